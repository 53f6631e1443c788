"""Mock-provider health: is a mock process itself the bottleneck?

A mock that runs out of CPU answers late and queues calls in its own event loop, and a report
would then blame the system under test (or the fault) for latency the mock added. The load
generator watches itself (``harness.load.health``); the mocks are watched from the
orchestrator, which already knows their process trees: once a second every process under each
provider's guard (the mock and, with ``workers``, each worker) has its CPU share read with
``psutil``, written to ``provider_health.jsonl``. A mock also reports how late its event loop
wakes (``brownout_mock_loop_lag_seconds`` in its ``/_brownout/metrics``, scraped into
``provider_metrics.jsonl``): on a starved machine a saturated loop shows as lag long before its
CPU share reaches 90 %. Sustained saturation in either, inside the measured part of the run,
is an invalidating ``warning``, as it is for the load generator.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import psutil

from harness.load.health import CPU_SATURATED_PERCENT, LAG_SATURATED_MS

__all__ = [
    "LOOP_LAG_GAUGE",
    "ProviderHealthMonitor",
    "ProviderHealthSample",
    "loop_lag_saturation",
    "provider_saturation",
    "read_provider_health",
]

#: The gauge a mock exports with its event loop's worst wake-up delay of the last second.
LOOP_LAG_GAUGE: Final = "brownout_mock_loop_lag_seconds"


@dataclass(frozen=True, slots=True)
class ProviderHealthSample:
    """One process of one mock provider, one second: its CPU share (100 = one core)."""

    t: float
    name: str
    pid: int
    cpu_percent: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProviderHealthSample:
        return cls(
            t=float(raw["t"]),
            name=str(raw["name"]),
            pid=int(raw["pid"]),
            cpu_percent=float(raw["cpu_percent"]),
        )


def read_provider_health(path: Path) -> Iterator[ProviderHealthSample]:
    """Stream the samples; a torn last line (killed writer) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n") and line.strip():
                yield ProviderHealthSample.from_dict(json.loads(line))


def provider_saturation(
    samples: Iterable[ProviderHealthSample],
    *,
    cpu_percent: float = CPU_SATURATED_PERCENT,
    min_samples: int = 2,
) -> list[str]:
    """Why each saturated mock process was saturated (none: an empty list). As for the load
    generator, one busy second is start-up or a GC pause; ``min_samples`` of them is overload."""
    busy: dict[tuple[str, int], list[float]] = defaultdict(list)
    for s in samples:
        if s.cpu_percent >= cpu_percent:
            busy[(s.name, s.pid)].append(s.cpu_percent)
    return [
        f"mock provider {name!r} saturated its core (process {pid}): CPU at or above "
        f"{cpu_percent:.0f}% in {len(values)} sample(s), up to {max(values):.0f}%"
        for (name, pid), values in sorted(busy.items())
        if len(values) >= min_samples
    ]


def loop_lag_saturation(
    metrics_path: Path,
    start: float,
    stop: float,
    *,
    lag_ms: float = LAG_SATURATED_MS,
    min_samples: int = 3,
    min_share: float = 0.1,
) -> list[str]:
    """Why each mock process whose event loop woke ``lag_ms`` late between ``start`` and
    ``stop`` was saturated, from ``provider_metrics.jsonl``. Sustained means ``min_samples``
    scrapes and ``min_share`` of that process's scrapes: on a machine shared with other jobs a
    healthy process is sometimes descheduled for 100 ms, a saturated one is late every second."""
    if not metrics_path.is_file():
        return []
    late: dict[tuple[str, str], list[float]] = defaultdict(list)
    scrapes: dict[tuple[str, str], int] = defaultdict(int)
    with metrics_path.open(encoding="utf-8") as handle:
        for line in handle:
            if LOOP_LAG_GAUGE not in line or not line.endswith("\n"):
                continue
            row = json.loads(line)
            if row.get("name") != LOOP_LAG_GAUGE or not start <= float(row["t"]) < stop:
                continue
            value_ms = float(row["value"]) * 1000.0
            labels = row.get("labels") or {}
            key = (str(labels.get("name", "?")), str(labels.get("pid", "?")))
            scrapes[key] += 1
            if value_ms >= lag_ms:
                late[key].append(value_ms)
    return [
        f"mock provider {name!r} saturated its event loop (process {pid}): it woke "
        f"{lag_ms:.0f} ms or more late in {len(values)} scrape(s), up to {max(values):.0f} ms"
        for (name, pid), values in sorted(late.items())
        if len(values) >= min_samples and len(values) >= min_share * scrapes[(name, pid)]
    ]


class ProviderHealthMonitor:
    """Samples the CPU of every process under each provider's root pid, once a second."""

    def __init__(self, roots: dict[str, int], out_path: Path, *, interval_s: float = 1.0):
        self.roots = roots
        self.out_path = out_path
        self.interval_s = interval_s
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="provider-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _tree(self, root: int) -> list[psutil.Process]:
        """The processes under ``root`` (the guard, which only waits, is left out)."""
        try:
            children: list[psutil.Process] = psutil.Process(root).children(recursive=True)
        except psutil.Error:
            return []  # the provider is gone; the supervisor reports that
        return children

    def _loop(self) -> None:
        with self.out_path.open("ab", buffering=0) as out:
            while not self._stop.wait(self.interval_s):
                t = time.time()
                lines: list[str] = []
                for name, root in self.roots.items():
                    for proc in self._tree(root):
                        # The same Process object each time: cpu_percent is the share since
                        # the previous call on it (its first call primes it and says 0).
                        known = self._procs.setdefault(proc.pid, proc)
                        try:
                            cpu = known.cpu_percent(None)
                        except psutil.Error:
                            continue
                        sample = ProviderHealthSample(t, name, proc.pid, cpu)
                        lines.append(sample.to_json() + "\n")
                if lines:
                    out.write("".join(lines).encode())
