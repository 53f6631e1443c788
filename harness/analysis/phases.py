"""The run's timeline, cut into phases from events.jsonl alone.

**warmup** runs from ``load_started`` for the scenario's warm-up, **baseline** until the first
``fault_applied``, **fault** until the last ``fault_removed``, **recovery** until
``load_stopped``. Every phase is a half-open interval ``[start, end)``, so a request starting
exactly on a boundary belongs to the later phase. When the run was aborted (no
``load_stopped``), the last phase ends where the data ends, that last sample included.

Boundaries are clamped to be monotonic: a fault applied during warm-up starts the fault phase
at the end of warm-up (baseline is then empty), and a fault still active when load stopped
leaves no recovery phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "PHASE_ORDER",
    "REPORTED_PHASES",
    "FaultRecord",
    "Phase",
    "Timeline",
    "assign_phases",
    "build_timeline",
]

#: The phases a sample can fall in, in time order; their index is the code assign_phases returns.
PHASE_ORDER: Final = ("warmup", "baseline", "fault", "recovery")

#: The phases summary.json reports; "run" is the whole run after warm-up.
REPORTED_PHASES: Final = ("baseline", "fault", "recovery", "run")


@dataclass(frozen=True)
class Phase:
    name: str
    #: None when the phase did not happen (e.g. no fault was applied)
    start: float | None
    end: float | None
    #: why the phase did not happen, for SLO failure messages
    absent_reason: str | None = None

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


@dataclass(frozen=True)
class FaultRecord:
    """One fault window as it actually happened (and as it was planned)."""

    name: str
    kind: str | None
    target: str | None
    applied_at: float
    removed_at: float | None
    planned_applied_at: float | None
    planned_removed_at: float | None
    params: dict[str, Any]


@dataclass(frozen=True)
class Timeline:
    load_started: float | None
    load_stopped: float | None
    #: the latest time seen in any file; where an aborted run's phases end
    data_end: float | None
    aborted: bool
    phases: dict[str, Phase]
    faults: list[FaultRecord]
    #: boundaries[i] is where PHASE_ORDER[i] starts; boundaries[4] is the end of the last phase
    boundaries: tuple[float, float, float, float, float] | None
    notes: list[str]


def build_timeline(
    events: list[dict[str, Any]],
    *,
    warmup_s: float | None,
    data_start: float | None,
    data_end: float | None,
) -> Timeline:
    """Phases and fault windows from the (time-sorted) events of a run.

    ``warmup_s`` is the resolved scenario's warm-up; when unknown, the ``phase`` event named
    ``baseline`` marks the end of warm-up, else there is none. ``data_start``/``data_end`` are the
    earliest and latest timestamps in the data files, used when the load events are missing.
    """
    notes: list[str] = []
    load_started = _first_t(events, "load_started")
    load_stopped = _last_t(events, "load_stopped")
    faults = _fault_records(events)

    start = load_started
    if start is None:
        start = data_start
        if start is not None:
            notes.append("no load_started event: the run is taken to start with its first data")
    if start is None:
        absent = {name: Phase(name, None, None, "the run has no data") for name in REPORTED_PHASES}
        return Timeline(
            load_started, load_stopped, data_end, True, absent, faults, None, ["no data"]
        )

    aborted = load_stopped is None
    if load_stopped is not None:
        stop = load_stopped
    else:
        # Include the last sample itself: the interval is half-open.
        last = max(data_end if data_end is not None else start, start)
        stop = math.nextafter(last, math.inf)
        notes.append("no load_stopped event: the run was aborted, phases end where data ends")

    if warmup_s is not None:
        warmup_end = start + warmup_s
    else:
        marked = _first_t(events, "phase", name="baseline")
        warmup_end = marked if marked is not None else start

    def clamp(t: float, low: float) -> float:
        return min(max(t, low), stop)

    warmup_end = clamp(warmup_end, start)
    applied = [f.applied_at for f in faults]
    if applied:
        fault_start = clamp(min(applied), warmup_end)
        still_active = any(f.removed_at is None for f in faults)
        removed = [f.removed_at for f in faults if f.removed_at is not None]
        fault_end = stop if still_active else clamp(max(removed), fault_start)
    else:
        fault_start = fault_end = stop

    phases = {
        "baseline": Phase("baseline", warmup_end, fault_start),
        "run": Phase("run", warmup_end, stop),
    }
    if applied:
        phases["fault"] = Phase("fault", fault_start, fault_end)
        if fault_end < stop:
            phases["recovery"] = Phase("recovery", fault_end, stop)
        else:
            phases["recovery"] = Phase(
                "recovery", None, None, "a fault was still active when the load stopped"
            )
    else:
        phases["fault"] = Phase("fault", None, None, "no fault was applied")
        phases["recovery"] = Phase("recovery", None, None, "no fault was applied")
    ordered = {name: phases[name] for name in REPORTED_PHASES}
    return Timeline(
        load_started=load_started,
        load_stopped=load_stopped,
        data_end=data_end,
        aborted=aborted,
        phases=ordered,
        faults=faults,
        boundaries=(start, warmup_end, fault_start, fault_end, stop),
        notes=notes,
    )


def assign_phases(times: npt.NDArray[np.float64], timeline: Timeline) -> npt.NDArray[np.int64]:
    """Index into PHASE_ORDER for each time; -1 for times outside the run (or NaN)."""
    if timeline.boundaries is None:
        return np.full(times.shape, -1, dtype=np.int64)
    edges = np.asarray(timeline.boundaries, dtype=np.float64)
    # side="right" makes [start, end) intervals and sends a time on a boundary shared by an
    # empty phase to the later, non-empty one.
    codes = np.searchsorted(edges, times, side="right").astype(np.int64) - 1
    outside = (codes < 0) | (codes >= len(PHASE_ORDER)) | np.isnan(times)
    codes[outside] = -1
    return codes


def _first_t(events: list[dict[str, Any]], kind: str, **match: Any) -> float | None:
    for event in events:
        if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
            return float(event["t"])
    return None


def _last_t(events: list[dict[str, Any]], kind: str) -> float | None:
    found = None
    for event in events:
        if event.get("type") == kind:
            found = float(event["t"])
    return found


def _fault_records(events: list[dict[str, Any]]) -> list[FaultRecord]:
    """Pair each fault_applied with the next fault_removed of the same fault name."""
    open_: dict[str, list[dict[str, Any]]] = {}
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for event in events:
        kind = event.get("type")
        if kind not in ("fault_applied", "fault_removed"):
            continue
        name = str(event.get("fault", ""))
        if kind == "fault_applied":
            open_.setdefault(name, []).append(event)
            pairs.append((event, None))
        elif open_.get(name):
            applied = open_[name].pop(0)
            index = next(i for i, (a, r) in enumerate(pairs) if a is applied and r is None)
            pairs[index] = (applied, event)
        # A removal without an application (e.g. the cleanup-all at the end) changes nothing.
    records = []
    for applied, removed in pairs:
        params = applied.get("params")
        records.append(
            FaultRecord(
                name=str(applied.get("fault", "")),
                kind=_str_or_none(applied.get("kind")),
                target=_str_or_none(applied.get("target")),
                applied_at=float(applied["t"]),
                removed_at=float(removed["t"]) if removed is not None else None,
                planned_applied_at=_float_or_none(applied.get("planned_t")),
                planned_removed_at=_float_or_none(removed.get("planned_t"))
                if removed is not None
                else None,
                params=params if isinstance(params, dict) else {},
            )
        )
    return records


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
