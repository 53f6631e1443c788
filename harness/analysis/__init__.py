"""Analysis: a run directory → per-phase metrics, recovery time and SLO verdicts.

``analyze_run(run_dir)`` is the entry point; it reads the run directory alone (the contract in
docs/architecture.md) and writes summary.json. Metric definitions: docs/metrics.md and
``harness.analysis.metrics``.
"""

from harness.analysis.loading import RunData, load_run
from harness.analysis.metrics import METRICS, QUEUE_DEPTH_METRIC
from harness.analysis.models import (
    AttemptsPerRequest,
    FaultWindowResult,
    LatencyPercentiles,
    PhaseMetrics,
    RecoveryResult,
    SLOResult,
    Summary,
    TimeSeries,
)
from harness.analysis.phases import PHASE_ORDER, REPORTED_PHASES
from harness.analysis.slos import SLOLike, evaluate_slos, latency_threshold_ms
from harness.analysis.summary import SUMMARY_FILE, analyze_run

__all__ = [
    "METRICS",
    "PHASE_ORDER",
    "QUEUE_DEPTH_METRIC",
    "REPORTED_PHASES",
    "SUMMARY_FILE",
    "AttemptsPerRequest",
    "FaultWindowResult",
    "LatencyPercentiles",
    "PhaseMetrics",
    "RecoveryResult",
    "RunData",
    "SLOLike",
    "SLOResult",
    "Summary",
    "TimeSeries",
    "analyze_run",
    "evaluate_slos",
    "latency_threshold_ms",
    "load_run",
]
