"""Regression deltas: this run's per-phase metrics against a stored baseline run.

CI keeps the summary.json of the last good run; comparing against it catches a change that made
the SUT worse under the same faults even when every absolute SLO still holds. A metric regressed
when it moved in its bad direction by more than ``tolerance`` (relative) *and* by more than a
per-metric floor, so noise on tiny numbers (0.1 % → 0.2 % errors) is not a regression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from harness.analysis.metrics import METRICS
from harness.analysis.models import Summary

__all__ = [
    "DEFAULT_TOLERANCE",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "Comparison",
    "MetricDelta",
    "compare_summaries",
]

DEFAULT_TOLERANCE: Final = 0.1

LOWER_IS_BETTER: Final = frozenset(
    {
        "error_rate",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "fan_out",
        "retry_amplification",
        "max_queue_depth",
        "max_provider_in_flight",
        "wasted_tokens",
        "recovery_time_s",
    }
)
HIGHER_IS_BETTER: Final = frozenset({"throughput_rps", "goodput_rps", "good_request_fraction"})

#: Smallest absolute change that can count as a regression, per metric.
_FLOORS: Final[dict[str, float]] = {
    "error_rate": 0.01,
    "good_request_fraction": 0.01,
    "latency_p50_ms": 5.0,
    "latency_p95_ms": 5.0,
    "latency_p99_ms": 5.0,
    "fan_out": 0.05,
    "retry_amplification": 0.05,
    "max_queue_depth": 1.0,
    "max_provider_in_flight": 1.0,
    "wasted_tokens": 100.0,
    "recovery_time_s": 1.0,
    "throughput_rps": 0.5,
    "goodput_rps": 0.5,
}

_PHASES: Final = ("baseline", "fault", "recovery", "run")

Verdict = Literal["better", "same", "regressed", "n/a"]


@dataclass(frozen=True)
class MetricDelta:
    phase: str
    metric: str
    baseline: float | None
    current: float | None
    #: (current - baseline) / |baseline|; None when either is missing or baseline is 0
    relative: float | None
    verdict: Verdict

    @property
    def regressed(self) -> bool:
        return self.verdict == "regressed"


@dataclass(frozen=True)
class Comparison:
    baseline_run_id: str
    current_run_id: str
    tolerance: float
    deltas: list[MetricDelta]
    #: Per-metric tolerances that override ``tolerance`` (``--tolerance latency_p95_ms=0.3``).
    tolerances: Mapping[str, float] = field(default_factory=dict)

    @property
    def regressions(self) -> list[MetricDelta]:
        return [d for d in self.deltas if d.regressed]


def compare_summaries(
    current: Summary,
    baseline: Summary,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    tolerances: Mapping[str, float] | None = None,
) -> Comparison:
    """Every metric of every phase present in both runs, judged against the baseline run;
    ``tolerances`` overrides ``tolerance`` for the metrics it names."""
    overrides = dict(tolerances or {})
    deltas = []
    for phase in _PHASES:
        now = current.phases.get(phase)
        before = baseline.phases.get(phase)
        if now is None or before is None:
            continue
        for metric in METRICS:
            deltas.append(
                _delta(
                    phase,
                    metric,
                    before.metric(metric),
                    now.metric(metric),
                    overrides.get(metric, tolerance),
                )
            )
    return Comparison(baseline.run_id, current.run_id, tolerance, deltas, overrides)


def _delta(
    phase: str, metric: str, before: float | None, now: float | None, tolerance: float
) -> MetricDelta:
    relative = None
    if before is not None and now is not None and before != 0:
        relative = (now - before) / abs(before)
    if metric == "recovery_time_s" and before is not None and now is None:
        # It recovered before and does not now: the worst kind of regression.
        return MetricDelta(phase, metric, before, now, None, "regressed")
    if before is None or now is None:
        return MetricDelta(phase, metric, before, now, None, "n/a")
    if metric in LOWER_IS_BETTER:
        worse = now - before
    elif metric in HIGHER_IS_BETTER:
        worse = before - now
    else:
        return MetricDelta(phase, metric, before, now, relative, "same")
    floor = _FLOORS.get(metric, 0.0)
    if abs(worse) <= floor or (before != 0 and abs(worse) / abs(before) <= tolerance):
        verdict: Verdict = "same"
    elif worse > 0:
        verdict = "regressed"
    else:
        verdict = "better"
    return MetricDelta(phase, metric, before, now, relative, verdict)
