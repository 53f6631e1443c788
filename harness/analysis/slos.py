"""SLO verdicts: each SLO's metric, looked up in its phase, checked against its bounds.

An SLO on a value that could not be computed (no requests in the phase, a phase that never
happened, a run that never recovered) fails, and its reason says why in words, because a gate
that silently passes on missing data is worse than no gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from harness.analysis.metrics import METRICS
from harness.analysis.models import PhaseMetrics, SLOResult

__all__ = ["LATENCY_THRESHOLD_METRICS", "SLOLike", "evaluate_slos", "latency_threshold_ms"]

#: SLOs on these metrics set the per-request latency a "good" request must meet.
LATENCY_THRESHOLD_METRICS: Final = ("latency_p95_ms", "latency_p99_ms")


class SLOLike(Protocol):
    """The fields of ``harness.scenario.SLO`` that analysis reads."""

    @property
    def name(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def phase(self) -> str: ...
    @property
    def max(self) -> float | None: ...
    @property
    def min(self) -> float | None: ...


def latency_threshold_ms(slos: Sequence[SLOLike]) -> float | None:
    """The per-request latency bound for goodput: the tightest ``max`` of any SLO on p95/p99.

    One threshold for the whole run, so goodput stays comparable across phases (recovery time
    compares recovery windows with baseline).
    """
    bounds = [s.max for s in slos if s.metric in LATENCY_THRESHOLD_METRICS and s.max is not None]
    return min(bounds) if bounds else None


def evaluate_slos(slos: Sequence[SLOLike], phases: Mapping[str, PhaseMetrics]) -> list[SLOResult]:
    return [_evaluate(slo, phases) for slo in slos]


def _evaluate(slo: SLOLike, phases: Mapping[str, PhaseMetrics]) -> SLOResult:
    def result(value: float | None, passed: bool, reason: str) -> SLOResult:
        return SLOResult(
            name=slo.name,
            metric=slo.metric,
            phase=slo.phase,
            max=slo.max,
            min=slo.min,
            value=value,
            passed=passed,
            reason=reason,
        )

    if slo.metric not in METRICS:
        return result(None, False, f"unknown metric {slo.metric!r}")
    phase = phases.get(slo.phase)
    if phase is None:
        return result(None, False, f"unknown phase {slo.phase!r} (known: {', '.join(phases)})")
    value = phase.metric(slo.metric)
    label = f"{slo.metric} in {slo.phase}"
    if value is None:
        why = phase.unavailable.get(slo.metric, "not computable")
        return result(None, False, f"{label} has no value: {why}")
    problems = []
    if slo.max is not None and value > slo.max:
        problems.append(f"{label} = {_fmt(value)}, above the maximum {_fmt(slo.max)}")
    if slo.min is not None and value < slo.min:
        problems.append(f"{label} = {_fmt(value)}, below the minimum {_fmt(slo.min)}")
    if problems:
        return result(value, False, "; ".join(problems))
    bounds = []
    if slo.min is not None:
        bounds.append(f">= {_fmt(slo.min)}")
    if slo.max is not None:
        bounds.append(f"<= {_fmt(slo.max)}")
    if not bounds:
        return result(value, True, f"{label} = {_fmt(value)} (the SLO sets no bound)")
    return result(value, True, f"{label} = {_fmt(value)}, within {' and '.join(bounds)}")


def _fmt(value: float) -> str:
    return f"{value:.4g}"
