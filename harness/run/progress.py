"""Live progress of a run, read from the run directory as it is written.

``LiveStats`` tails ``events.jsonl``, ``requests*.jsonl`` and ``provider_calls.jsonl`` (the same
files analysis reads, so the live view needs no hook in the load generator) and summarises the
last few seconds: phase, elapsed of total, request rate, p95, error rate, active faults, and
the SLOs that already fail on the phase so far. ``ProgressDisplay`` shows that snapshot with
``rich.live.Live`` on a terminal, or as one plain line every few seconds in a CI log; never
both. The figures are a preview: the verdict is analysis's, computed after the run.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.scenario import SLO, Scenario

__all__ = ["LiveSnapshot", "LiveStats", "ProgressDisplay"]

#: The window the rate, p95 and error rate are computed over.
WINDOW_S = 5.0
#: SLO metrics the live view can judge from the files it tails.
LIVE_METRICS = frozenset(
    {"requests", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
     "provider_attempts", "fan_out", "retry_amplification"}
)  # fmt: skip


class _Tail:
    """New complete JSON lines of a file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        if self._file is None:
            try:
                self._file = self.path.open("rb")
            except FileNotFoundError:
                return []
        data = self._partial + self._file.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        rows = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class _PhaseCounts:
    requests: int = 0
    failed: int = 0
    attempts: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class LiveSnapshot:
    phase: str
    elapsed_s: float
    total_s: float
    rate_rps: float | None
    p95_ms: float | None
    error_rate: float | None
    active_faults: tuple[str, ...]
    failing_slos: tuple[str, ...]

    def line(self) -> str:
        """The plain-text form, for CI logs."""
        faults = ",".join(self.active_faults) or "none"
        text = (
            f"t={self.elapsed_s:.0f}s/{self.total_s:.0f}s {self.phase:<8} "
            f"rate={_fmt(self.rate_rps, '.1f', ' req/s')} p95={_fmt(self.p95_ms, '.0f', 'ms')} "
            f"errors={_fmt(self.error_rate, '.1%')} faults={faults}"
        )
        if self.failing_slos:
            text += f" failing={'; '.join(self.failing_slos)}"
        return text


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{unit}"


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class LiveStats:
    """Incremental statistics of a run in progress, from its directory alone."""

    def __init__(self, run_dir: Path, scenario: Scenario) -> None:
        self.run_dir = run_dir
        self.scenario = scenario
        self._events = _Tail(run_dir / "events.jsonl")
        self._requests: dict[Path, _Tail] = {}
        self._calls = _Tail(run_dir / "provider_calls.jsonl")
        self.t0: float | None = None
        self._phases: list[tuple[float, str]] = []
        self._active: dict[str, None] = {}
        self._recent: deque[tuple[float, float, bool]] = deque()  # (t_end, latency_ms, ok)
        self._per_phase: dict[str, _PhaseCounts] = {}

    def _phase_at(self, t: float) -> str:
        current = "warmup" if self.t0 is not None and t >= self.t0 else "starting"
        for start, name in self._phases:
            if t >= start:
                current = name
        return current

    def update(self) -> None:
        for event in self._events.read():
            kind, t = event.get("type"), float(event.get("t", 0.0))
            if kind == "load_started" and self.t0 is None:
                self.t0 = t
            elif kind == "phase":
                self._phases.append((t, str(event.get("name"))))
            elif kind == "fault_applied":
                self._active[str(event.get("fault"))] = None
            elif kind == "fault_removed":
                self._active.pop(str(event.get("fault")), None)
        for path in sorted(self.run_dir.glob("requests*.jsonl")):
            tail = self._requests.setdefault(path, _Tail(path))
            for row in tail.read():
                self._add_request(row)
        for call in self._calls.read():
            if "t" in call:
                self._counts(self._phase_at(float(call["t"]))).attempts += 1

    def _counts(self, phase: str) -> _PhaseCounts:
        return self._per_phase.setdefault(phase, _PhaseCounts())

    def _add_request(self, row: dict[str, Any]) -> None:
        try:
            start, end = float(row["t_start"]), float(row["t_end"])
            latency = float(row.get("latency_ms") or (end - start) * 1000)
        except (KeyError, TypeError, ValueError):
            return
        ok = bool(row.get("ok"))
        self._recent.append((end, latency, ok))
        counts = self._counts(self._phase_at(start))
        counts.requests += 1
        counts.failed += 0 if ok else 1
        if ok:
            counts.latencies_ms.append(latency)

    def snapshot(self, now: float | None = None) -> LiveSnapshot:
        now = time.time() if now is None else now
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()
        window = list(self._recent)
        elapsed = 0.0 if self.t0 is None else max(0.0, now - self.t0)
        span = min(WINDOW_S, elapsed) or WINDOW_S
        ok_latencies = [latency for _, latency, ok in window if ok]
        return LiveSnapshot(
            phase=self._phase_at(now),
            elapsed_s=min(elapsed, self.scenario.duration_s),
            total_s=self.scenario.duration_s,
            rate_rps=len(window) / span if self.t0 is not None else None,
            p95_ms=_percentile(ok_latencies, 0.95),
            error_rate=(sum(not ok for _, _, ok in window) / len(window)) if window else None,
            active_faults=tuple(self._active),
            failing_slos=tuple(slo.name for slo in self.scenario.slos if self._failing(slo)),
        )

    def _value(self, metric: str, phase: str) -> float | None:
        if phase == "run":
            names = [p for p in self._per_phase if p not in ("warmup", "starting")]
        else:
            names = [phase]
        counts = [self._per_phase[p] for p in names if p in self._per_phase]
        requests = sum(c.requests for c in counts)
        attempts = sum(c.attempts for c in counts)
        if metric == "requests":
            return float(requests) if counts else None
        if metric == "provider_attempts":
            return float(attempts) if counts else None
        if not requests:
            return None
        if metric == "error_rate":
            return sum(c.failed for c in counts) / requests
        if metric.startswith("latency_p"):
            q = {"latency_p50_ms": 0.5, "latency_p95_ms": 0.95, "latency_p99_ms": 0.99}[metric]
            return _percentile([v for c in counts for v in c.latencies_ms], q)
        fan_out = attempts / requests
        if metric == "fan_out":
            return fan_out
        base = self._per_phase.get("baseline")
        if base is None or not base.requests or not base.attempts:
            return None
        return fan_out / (base.attempts / base.requests)

    def _failing(self, slo: SLO) -> bool:
        # Only bounds that the rest of the phase cannot undo are safe to call early: a maximum
        # on a count, or any bound on a phase that is over; rates and percentiles can still move.
        if slo.metric not in LIVE_METRICS:
            return False
        value = self._value(slo.metric, slo.phase)
        if value is None:
            return False
        if slo.max is not None and value > slo.max:
            return slo.metric in ("requests", "provider_attempts") or self._phase_over(slo.phase)
        if slo.min is not None and value < slo.min:
            return self._phase_over(slo.phase)
        return False

    def _phase_over(self, phase: str) -> bool:
        order = [name for _, name in self._phases]
        return phase in order and order[-1] != phase

    def close(self) -> None:
        self._events.close()
        self._calls.close()
        for tail in self._requests.values():
            tail.close()


class ProgressDisplay:
    """Shows a run's progress: a live table on a terminal, plain lines otherwise.

    ``message`` takes the orchestrator's start-up lines; ``attach`` starts the live view once
    the run directory exists; ``close`` stops it (idempotent).
    """

    def __init__(
        self,
        console: Console | None = None,
        *,
        plain_interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.live_mode = self.console.is_terminal
        self._plain_interval_s = plain_interval_s
        self._clock = clock
        self._stats: LiveStats | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._live: Live | None = None

    def message(self, line: str) -> None:
        # The orchestrator's own periodic "t=…" line is superseded by the live view.
        if self._stats is not None and line.startswith("t="):
            return
        self.console.print(f"brownout: {line}", markup=False, highlight=False, soft_wrap=True)

    def attach(self, run_dir: Path, scenario: Scenario) -> None:
        if self._thread is not None:
            return
        self._stats = LiveStats(run_dir, scenario)
        interval = self._plain_interval_s or max(5.0, scenario.duration_s / 12)
        if self.live_mode:
            self._live = Live(console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        self._thread = threading.Thread(
            target=self._loop, args=(1.0 if self.live_mode else interval,), daemon=True,
            name="brownout-progress",
        )  # fmt: skip
        self._thread.start()

    def _loop(self, interval_s: float) -> None:
        assert self._stats is not None
        while not self._stop.wait(interval_s):
            try:
                self._stats.update()
                snapshot = self._stats.snapshot(self._clock())
            except OSError:
                continue  # a file being rotated or removed: try again next tick
            if self._stats.t0 is None:
                continue  # load has not started: the start-up lines say what is happening
            if self._live is not None:
                self._live.update(self._table(snapshot))
            else:
                self.console.print(
                    f"brownout: {snapshot.line()}", markup=False, highlight=False, soft_wrap=True
                )

    @staticmethod
    def _table(snapshot: LiveSnapshot) -> Table:
        table = Table(title="brownout run", title_justify="left", show_header=True)
        for column in ("phase", "time", "rate", "p95", "errors", "active faults", "failing SLOs"):
            table.add_column(column)
        table.add_row(
            snapshot.phase,
            f"{snapshot.elapsed_s:.0f}s / {snapshot.total_s:.0f}s",
            _fmt(snapshot.rate_rps, ".1f", " req/s"),
            _fmt(snapshot.p95_ms, ".0f", " ms"),
            _fmt(snapshot.error_rate, ".1%"),
            "\n".join(snapshot.active_faults) or "none",
            "\n".join(snapshot.failing_slos) or "none yet",
        )
        return table

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._stats is not None:
            self._stats.close()
