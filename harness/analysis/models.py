"""The typed result of analysing a run: what summary.json holds, field for field.

Pydantic models so the same classes validate summary.json when a report is re-rendered from it
(``Summary.from_json``) and serialise it (``Summary.to_json``). Metric fields are named exactly
as ``harness.scenario.SLO_METRICS`` names them, so an SLO's metric is a field lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.analysis.verdict_models import CostSummary, ImpactLine, Verdict, WorstRequest

__all__ = [
    "AmplificationMethod",
    "AttemptsPerRequest",
    "FaultWindowResult",
    "LatencyPercentiles",
    "LoadStage",
    "PhaseMetrics",
    "ProviderFigures",
    "RecoveryResult",
    "SLOResult",
    "Summary",
    "TimeSeries",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyPercentiles(_Model):
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class AttemptsPerRequest(_Model):
    """Provider calls per logical request, joined on request_id (None when ids do not join)."""

    mean: float | None = None
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


class ProviderFigures(_Model):
    """One provider's (or one endpoint's) calls in a phase."""

    calls: int = 0
    failed_calls: int = 0
    tokens: int = 0
    #: calls repeating an endpoint the same request already called on this provider
    retry_calls: int | None = None
    #: calls of requests that had first called another provider
    failover_calls: int | None = None
    #: duration of the calls at the provider (t_end - t), all statuses
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None


class PhaseMetrics(_Model):
    """Every metric of one phase; None when not computable, with the reason in ``unavailable``."""

    start: float | None = None
    end: float | None = None
    duration_s: float | None = None

    requests: int | None = None
    throughput_rps: float | None = None
    error_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    provider_attempts: int | None = None
    fan_out: float | None = None
    retry_amplification: float | None = None
    max_queue_depth: float | None = None
    max_provider_in_flight: float | None = None
    goodput_rps: float | None = None
    good_request_fraction: float | None = None
    wasted_tokens: int | None = None
    recovery_time_s: float | None = None

    failed_requests: int | None = None
    good_requests: int | None = None
    tokens_total: int | None = None
    #: tokens_total ÷ successful requests: what one served answer cost
    tokens_per_success: float | None = None
    #: 1 - completions ÷ arrivals: > 0 while the SUT falls behind
    rate_deficit: float | None = None
    #: calls carrying an SDK retry-count header (x-stainless-retry-count >= 1); only SDKs that
    #: set it are seen, and a SUT may set it itself
    sdk_retry_calls: int | None = None
    #: calls repeating an earlier call of the same request (same request_id and fingerprint):
    #: retries by any layer; None when ids do not join
    repeated_calls: int | None = None
    #: calls on the request's first provider repeating an endpoint it already called (retries)
    retry_calls: int | None = None
    #: calls on a provider other than the one the request called first (failover)
    failover_calls: int | None = None
    #: requests with at least one failover call
    requests_failed_over: int | None = None
    #: calls counted in the phase by arrival time because their id joins no request
    unattributed_calls: int | None = None
    #: per provider (the scenario's provider name)
    by_provider: dict[str, ProviderFigures] = Field(default_factory=dict)
    #: per "provider endpoint"
    by_endpoint: dict[str, ProviderFigures] = Field(default_factory=dict)
    # Client-resilience verdicts (harness.analysis.resilience defines them).
    retry_after_violation_rate: float | None = None
    backoff_growth: float | None = None
    retry_dispersion: float | None = None
    max_attempts_per_call: float | None = None
    retries_per_call: float | None = None
    abandoned_work_rate: float | None = None
    multi_layer_retry_rate: float | None = None
    duplicate_call_rate: float | None = None
    truncated_accepted_rate: float | None = None
    client_cut_stream_rate: float | None = None
    # Cost in USD (harness.analysis.cost).
    cost_usd: float | None = None
    cost_per_success_usd: float | None = None
    wasted_cost_usd: float | None = None
    error_classes: dict[str, int] = Field(default_factory=dict)
    latency_ok_ms: LatencyPercentiles = Field(default_factory=LatencyPercentiles)
    ttft_ms: LatencyPercentiles = Field(default_factory=LatencyPercentiles)
    attempts_per_request: AttemptsPerRequest = Field(default_factory=AttemptsPerRequest)
    #: metric name → why its value is None
    unavailable: dict[str, str] = Field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """The value of an SLO metric by name (KeyError for an unknown name)."""
        if name not in type(self).model_fields or name in _NOT_METRICS:
            raise KeyError(name)
        value = getattr(self, name)
        return None if value is None else float(value)


_NOT_METRICS = frozenset(
    {"start", "end", "duration_s", "error_classes", "latency_ok_ms", "attempts_per_request"}
    | {"ttft_ms", "unavailable", "by_provider", "by_endpoint"}
)


class FaultWindowResult(_Model):
    name: str
    kind: str | None = None
    target: str | None = None
    applied_at: float
    removed_at: float | None = None
    planned_applied_at: float | None = None
    planned_removed_at: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    #: user requests that started while this fault was active, and how many of them failed
    requests_during: int = 0
    failed_during: int = 0
    #: goodput and p95 latency of the requests that started while this fault was active
    goodput_during_rps: float | None = None
    latency_p95_during_ms: float | None = None
    #: provider calls the mock marked with this fault (provider faults only)
    calls_hit: int = 0
    #: failed user requests with at least one call marked with this fault
    failed_requests_hit: int = 0
    #: error classes of the requests that failed while this fault was active
    error_classes_during: dict[str, int] = Field(default_factory=dict)


class LoadStage(_Model):
    """A load stage as it began (a ``load_stage`` event), so charts can mark the change."""

    #: when the stage began (epoch seconds)
    t: float
    index: int
    users: float | None = None
    rate: float | None = None
    ramp: bool = False
    duration_s: float | None = None

    @property
    def label(self) -> str:
        """'rate 20/s', 'ramp to 20 users', ...: what the load became at this stage."""
        target = (
            f"{self.rate:g}/s"
            if self.rate is not None
            else f"{self.users:g} users"
            if self.users is not None
            else "?"
        )
        return f"ramp to {target}" if self.ramp else target


class SLOResult(_Model):
    name: str
    metric: str
    phase: str
    max: float | None = None
    min: float | None = None
    value: float | None = None
    passed: bool
    reason: str


class AmplificationMethod(_Model):
    """How fan-out and amplification were computed, so the report can say so."""

    #: "attributed" (calls joined to their requests) or "time-based estimate"
    method: str
    #: of the run's provider calls, the fraction whose id joined a user request
    joined_fraction: float
    #: the phase rule for a request that straddles a boundary
    boundary_rule: str
    #: how the fault phase's amplification was measured
    fault_basis: str = ""


class RecoveryResult(_Model):
    #: recovered (with recovery_time_s), metastable (the failure outlived its trigger long
    #: enough to say so) or undetermined (no recovery phase, or too short to judge)
    verdict: Literal["recovered", "metastable", "undetermined"] = "undetermined"
    recovery_time_s: float | None = None
    #: True when the SLO-level service never came back before the load stopped;
    #: None when recovery could not be judged (no fault removed, no baseline)
    metastable: bool | None = None
    reason: str = ""
    epsilon: float
    windows: int
    window_s: float
    baseline_goodput_rps: float | None = None
    baseline_p95_ms: float | None = None
    #: the thresholds a window had to meet (see compute_recovery)
    goodput_floor_rps: float | None = None
    p95_ceiling_ms: float | None = None
    #: the shortest recovery phase that can be called metastable
    min_judge_s: float | None = None


class TimeSeries(_Model):
    """Per-window series for charts; ``t`` is seconds since ``t0`` (window start)."""

    t0: float | None = None
    window_s: float
    t: list[float] = Field(default_factory=list)
    requests_rps: list[float] = Field(default_factory=list)
    errors_rps: list[float] = Field(default_factory=list)
    goodput_rps: list[float] = Field(default_factory=list)
    latency_p50_ms: list[float | None] = Field(default_factory=list)
    latency_p95_ms: list[float | None] = Field(default_factory=list)
    provider_attempts_rps: list[float] = Field(default_factory=list)
    #: provider calls per user request started in the window (None: no request started)
    fan_out: list[float | None] = Field(default_factory=list)
    queue_depth: list[float | None] = Field(default_factory=list)
    provider_in_flight: list[float | None] = Field(default_factory=list)
    #: calls waiting at the mock providers (provider_metrics.jsonl; analysis.provider_series)
    provider_queue_depth: list[float | None] = Field(default_factory=list)


class Summary(_Model):
    """summary.json: per-phase metrics and SLO verdicts of one run."""

    run_id: str
    scenario: str
    #: the data can be trusted (see ``validity_problems``)
    valid: bool
    #: the run reached its planned end (run.json ``complete``)
    complete: bool
    aborted: bool = False
    #: the run is valid and every SLO holds: the only figure a release may be gated on
    passed: bool
    #: every SLO holds (whether or not the run is valid)
    slos_passed: bool = True
    #: "passed", "failed" (an SLO failed) or "invalid" (the data cannot be trusted)
    verdict: Literal["passed", "failed", "invalid"] = "passed"
    validity_problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    load_started: float | None = None
    load_stopped: float | None = None
    warmup_s: float | None = None
    latency_threshold_ms: float | None = None
    phases: dict[str, PhaseMetrics]
    amplification: AmplificationMethod | None = None
    faults: list[FaultWindowResult] = Field(default_factory=list)
    slos: list[SLOResult] = Field(default_factory=list)
    recovery: RecoveryResult
    #: load_stopped until the SUT queue first read 0 (None: no samples, or it never drained)
    drain_time_s: float | None = None
    timeseries: TimeSeries
    skipped_lines: dict[str, int] = Field(default_factory=dict)
    #: phase → client-resilience verdicts with their evidence (harness.analysis.resilience)
    resilience: dict[str, list[Verdict]] = Field(default_factory=dict)
    cost: CostSummary = Field(default_factory=CostSummary)
    #: the slowest and failed requests, reconstructed (harness.analysis.traces)
    worst_requests: list[WorstRequest] = Field(default_factory=list)
    #: which fault, through which path, the bad requests met (harness.analysis.impact)
    impact: list[ImpactLine] = Field(default_factory=list)
    #: the load stages as they began (events.jsonl ``load_stage``), drawn on the charts
    load_stages: list[LoadStage] = Field(default_factory=list)

    @property
    def failed_slos(self) -> list[SLOResult]:
        return [s for s in self.slos if not s.passed]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> Summary:
        return cls.model_validate_json(text)

    @classmethod
    def read(cls, path: Path) -> Summary:
        return cls.from_json(path.read_bytes())

    def write(self, path: Path) -> Path:
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path
