"""Load-generator health: is the load driver itself the bottleneck?

A load generator that runs out of CPU sends less load than asked and measures latencies that
include its own queueing, and a report would then blame the SUT for the generator's limits.
The Locust subprocess samples itself once a second (CPU of its process, users running, requests
recorded, and how late a one-second sleep woke up — the scheduling lag of its gevent loop) into
``load_health.jsonl``; ``saturation`` turns those samples into a verdict for the analysis.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CPU_SATURATED_PERCENT",
    "LAG_SATURATED_MS",
    "LoadHealthSample",
    "read_health",
    "saturation",
]

#: Locust's own CPU warning threshold: above it, throughput and timings are unreliable.
CPU_SATURATED_PERCENT: Final = 90.0
#: A loop that wakes this late from a sleep is too busy to send requests on time.
LAG_SATURATED_MS: Final = 100.0


@dataclass(frozen=True, slots=True)
class LoadHealthSample:
    """One sample of the Locust process, taken by the locustfile every ``interval``."""

    t: float
    cpu_percent: float
    users: int
    requests: int
    lag_ms: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LoadHealthSample:
        return cls(
            t=float(raw["t"]),
            cpu_percent=float(raw["cpu_percent"]),
            users=int(raw["users"]),
            requests=int(raw["requests"]),
            lag_ms=float(raw["lag_ms"]),
        )


def read_health(path: Path) -> Iterator[LoadHealthSample]:
    """Stream the samples; a torn last line (killed writer) is skipped."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.endswith("\n") and line.strip():
                yield LoadHealthSample.from_dict(json.loads(line))


def saturation(
    samples: Iterable[LoadHealthSample],
    *,
    cpu_percent: float = CPU_SATURATED_PERCENT,
    lag_ms: float = LAG_SATURATED_MS,
    min_samples: int = 2,
) -> str | None:
    """Why the generator was saturated, or None.

    Saturated means at least ``min_samples`` samples over a threshold: one busy second (start-up,
    a GC pause) does not invalidate a run, a sustained overload does.
    """
    busy = [s for s in samples if s.cpu_percent >= cpu_percent or s.lag_ms >= lag_ms]
    if len(busy) < min_samples:
        return None
    worst_cpu = max(s.cpu_percent for s in busy)
    worst_lag = max(s.lag_ms for s in busy)
    return (
        f"load generator saturated in {len(busy)} sample(s): "
        f"CPU up to {worst_cpu:.0f}% (limit {cpu_percent:.0f}%), "
        f"scheduling lag up to {worst_lag:.0f} ms (limit {lag_ms:.0f} ms)"
    )
