"""The typed results of the explaining analyses: client-resilience verdicts, cost, traces and
attribution, as summary.json holds them.

Kept apart from ``models`` (the per-phase metrics) so the explaining analyses can grow without
touching the core summary; ``Summary`` holds these under ``resilience``, ``cost``,
``worst_requests`` and ``impact``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CostSummary",
    "ImpactLine",
    "ModelPrice",
    "TraceCall",
    "TraceSpan",
    "Verdict",
    "WorstRequest",
]

VerdictStatus = Literal["pass", "fail", "not_judged"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Verdict(_Model):
    """One judgement of the client's behaviour in one phase, with the evidence behind it."""

    #: stable key, e.g. ``retry_after``
    name: str
    #: what is judged, in words
    title: str
    status: VerdictStatus
    #: the SLO metric that carries this verdict's number (None: evidence only)
    metric: str | None = None
    value: float | None = None
    #: one sentence with the figures
    summary: str
    #: counts and measured figures the sentence is built from
    evidence: dict[str, Any] = Field(default_factory=dict)
    #: request ids (X-Request-Id) showing the behaviour, for ``brownout trace``
    examples: list[str] = Field(default_factory=list)


class ModelPrice(_Model):
    """USD per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)


class CostSummary(_Model):
    """What the run's provider calls cost, at the prices in ``prices``."""

    currency: str = "USD"
    #: model name (as called) → the price applied to it
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    #: models called that have no price (their calls count as 0 USD, and the cost is a floor)
    unpriced_models: dict[str, int] = Field(default_factory=dict)
    #: per-window cost for the chart: seconds since ``t0`` and USD per window
    t0: float | None = None
    window_s: float = 1.0
    t: list[float] = Field(default_factory=list)
    cost_usd: list[float] = Field(default_factory=list)
    wasted_usd: list[float] = Field(default_factory=list)


class TraceCall(_Model):
    """One provider call of a traced request."""

    t: float
    t_end: float | None = None
    provider: str | None = None
    name: str | None = None
    endpoint: str | None = None
    model: str | None = None
    status: int | None = None
    fault: str | None = None
    retry_count: int | None = None
    retry_after_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    stream: bool | None = None
    stream_completed: bool | None = None
    in_flight: int | None = None
    #: network faults (proxy toxics) active while the call ran
    toxics: list[str] = Field(default_factory=list)
    #: the call's bodies as the mock recorded them (``record_bodies: true``; capped, redacted)
    request_body: str | None = None
    response_body: str | None = None


class TraceSpan(_Model):
    """A span the SUT exported over OTLP, joined to the request by trace id."""

    name: str
    t: float
    t_end: float
    service: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    status: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class WorstRequest(_Model):
    """A request reconstructed end to end: the user's view, its provider calls, its spans."""

    request_id: str
    why: str
    t_start: float
    t_end: float | None = None
    latency_ms: float | None = None
    status: int | None = None
    error_class: str | None = None
    phase: str | None = None
    calls: list[TraceCall] = Field(default_factory=list)
    spans: list[TraceSpan] = Field(default_factory=list)
    request_body: str | None = None
    response_body: str | None = None


class ImpactLine(_Model):
    """One path by which failed or slow requests met a fault."""

    phase: str
    #: e.g. "a 500 from provider openai (fault provider-500s) after 2 retries"
    path: str
    requests: int
    #: share of the phase's bad (failed or SLO-missing) requests
    share: float
    examples: list[str] = Field(default_factory=list)
