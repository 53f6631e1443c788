"""Client-resilience verdicts: how the SUT's client behaved when its provider failed.

Two SUTs can show the same retry amplification and the same PASS while one honours
``retry-after`` and backs off and the other hammers the provider: these verdicts tell them apart,
from the mock's journal alone (joined to the user's requests by ``X-Request-Id``).

Definitions (docs/metrics.md says the same in words):

- A **chain** is the calls of one user request with the same fingerprint (method, endpoint,
  body): the first is the attempt, every later one a **retry**, whatever layer sent it.
- A retry's **gap** is its arrival minus the end of the call before it in the chain.
- **retry_after_violation_rate**: of the retries after a reply that carried ``retry-after``,
  the share whose gap was shorter than asked (by more than 5 % and 5 ms of measuring slack).
- **backoff_growth**: median gap of second retries ÷ median gap of first retries, over retries
  the client timed itself (no ``retry-after``); backing off means ≥ 1.5.
- **retry_dispersion**: interquartile range ÷ median (median floored at 100 ms) of first-retry
  gaps the client chose itself. Requests that failed together retry together unless these delays
  differ, so below 0.1 (or with a median gap under 50 ms: immediate retries) the retries come as
  synchronized waves.
- **max_attempts_per_call**, **retries_per_call** (retries ÷ chains): capped means ≤ 3, ≤ 0.1.
- **abandoned_work_rate**: calls that arrived after their user request had already ended.
- **multi_layer_retry_rate**: requests retried both by the SDK (``x-stainless-retry-count``
  ≥ 1) and by the application (the same call started afresh more than once), ÷ requests.
- **duplicate_call_rate**: retries of a call that had already succeeded, ÷ calls.
- **truncated_accepted_rate**: requests whose last provider call was a cut stream, yet the SUT
  answered 200, ÷ requests with provider calls.
- **client_cut_stream_rate**: streams the client hung up on mid-body (no provider fault cut
  them), ÷ streamed calls; the verdict then says which deadline did it.

The calls are put in chain order once (harness.analysis.resilience_calls) and each verdict is
one check over them (harness.analysis.resilience_checks). Everything is vectorised over the
call frame (one sort, no per-row Python), so a run of a million calls stays within the
analysis budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun
from harness.analysis.phases import PHASE_ORDER, REPORTED_PHASES
from harness.analysis.resilience_calls import (
    CUT_FAULT_TYPES,
    BoolArray,
    ChainCalls,
    IntArray,
    chain_calls,
)
from harness.analysis.resilience_checks import CHECKS
from harness.analysis.verdict_models import Verdict
from harness.scenario.model import RESILIENCE_METRICS

__all__ = [
    "CUT_FAULT_TYPES",
    "RESILIENCE_METRICS",
    "PhaseVerdicts",
    "compute_resilience",
]


@dataclass
class PhaseVerdicts:
    """Per phase: the verdicts, the metric values, and why a metric has no value."""

    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)
    #: request-id hashes to resolve into example ids, per (phase, verdict name)
    example_hashes: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def compute_resilience(
    data: RunData, prepared: PreparedRun, fault_types: Mapping[str, str]
) -> PhaseVerdicts:
    """Every verdict for each reported phase; ``fault_types`` maps fault name → fault type."""
    result = PhaseVerdicts()
    calls = chain_calls(data, prepared, fault_types)
    for phase in REPORTED_PHASES:
        if prepared.timeline.phases[phase].start is None:
            reason = f"the {phase} phase did not happen"
            result.verdicts[phase] = []
            result.values[phase] = dict.fromkeys(RESILIENCE_METRICS)
            result.unavailable[phase] = dict.fromkeys(RESILIENCE_METRICS, reason)
            continue
        _judge_phase(result, phase, calls)
    return result


def _phase_mask(codes: IntArray, phase: str) -> BoolArray:
    if phase == "run":
        return np.asarray(codes >= PHASE_ORDER.index("baseline"), dtype=bool)
    return np.asarray(codes == PHASE_ORDER.index(phase), dtype=bool)


def _judge_phase(result: PhaseVerdicts, phase: str, c: ChainCalls | None) -> None:
    metric_names = RESILIENCE_METRICS
    values: dict[str, float | None] = dict.fromkeys(metric_names)
    why: dict[str, str] = {}
    verdicts: list[Verdict] = []
    if c is None:
        reason = (
            "no provider call carries the X-Request-Id of a user request, so calls cannot be "
            "joined to requests (the SUT must forward the header)"
        )
        result.verdicts[phase] = []
        result.values[phase] = values
        result.unavailable[phase] = dict.fromkeys(metric_names, reason)
        return
    in_phase = _phase_mask(c.phase, phase)
    chain_in = _phase_mask(c.chain_phase, phase)
    for check in CHECKS:
        for judged in check(c, in_phase, chain_in):
            verdict = judged.verdict
            verdicts.append(verdict)
            if verdict.metric is not None:
                values[verdict.metric] = verdict.value
                if verdict.value is None:
                    why[verdict.metric] = judged.reason or verdict.summary
            if judged.hashes:
                result.example_hashes[(phase, verdict.name)] = judged.hashes
    result.verdicts[phase] = verdicts
    result.values[phase] = values
    result.unavailable[phase] = why
