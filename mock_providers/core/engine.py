"""What a chat call is served with: the model engine, the wire-format contract, timing.

`Engine` bundles the models, the answer engine and the tokenizer; `ChatFormat` is what each
provider's wire module implements; the timing helpers turn a model's latency profile and the
latency faults that fired into seconds to wait. Shared by the pipeline and the streaming code.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mock_providers.core.answers import AnswerEngine
from mock_providers.core.call import Call
from mock_providers.core.faults import Fault, FaultSet
from mock_providers.core.models import ModelBook, ModelSpec
from mock_providers.core.ratelimit import AccountLimits
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import Frame, Reply, WireError

JSON_CT = b"application/json"


class ChatFormat(Protocol):
    """How one provider renders the pipeline's outcomes on the wire."""

    provider: str
    # The status of the safety filter's prompt-block answer (`safety` mode `azure_400`).
    safety_status: int

    def wire_error(self, err: WireError) -> bytes: ...
    def bad_json(self) -> WireError: ...
    def status_error(self, status: int, message: str) -> bytes: ...
    def model_not_found(self, model: str) -> WireError: ...
    def model_deprecated(self, model: str) -> WireError: ...
    def context_length(self, window: int, tokens: int) -> WireError: ...
    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]: ...
    def safety_400(self) -> bytes: ...
    def tool_id(self) -> str: ...
    def body(self, reply: Reply, model: str) -> dict[str, Any]: ...
    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]: ...
    def body_frames(self, frames: list[Frame]) -> int: ...
    def encode(self, frame: Frame) -> bytes: ...
    def error_frame(self, error_type: str) -> bytes: ...
    def malformed_frame(self) -> bytes: ...


@dataclass
class Engine:
    """What the pipeline needs from the mock: models, answers, tokenizer, timing randomness."""

    models: ModelBook
    answers: AnswerEngine
    tokenizer: TokenizerProfile
    timing_rng: random.Random
    record_usage: Callable[[int], None] = field(default=lambda tokens: None)
    account: AccountLimits = field(default_factory=AccountLimits)


def decide(faults: FaultSet, call: Call, model: str | None, stream: bool) -> list[Fault]:
    """The faults that fire for this call (drawn once: maybe already by the replay check)."""
    if call.decided is not None:
        return call.decided
    return faults.decide(call.endpoint, model, stream, call.named) if faults else []


def first_of(fired: list[Fault], kind: str) -> Fault | None:
    """The first fault of type `kind` among those that fired."""
    if not fired:  # the common case, on every call: skip building a generator
        return None
    return next((f for f in fired if f.type == kind), None)


def note(call: Call, fault: Fault) -> None:
    if fault.name not in call.faults:
        call.faults.append(fault.name)


def pre_response_delay(engine: Engine, fired: list[Fault], call: Call) -> float:
    """Seconds of extra wait before the response starts (latency faults)."""
    extra_ms = 0.0
    for fault in fired:
        p = fault.params
        if fault.type == "latency":
            note(call, fault)
            extra_ms += fault.magnitude() * (
                p["ms"] + (engine.timing_rng.uniform(0, p["jitter_ms"]) if p["jitter_ms"] else 0.0)
            )
        elif fault.type == "slow_drift":
            note(call, fault)
            age_s = time.monotonic() - fault.applied_at
            extra_ms += min(p["max_ms"] * fault.magnitude(), p["ms_per_s"] * age_s)
    return extra_ms / 1000.0


def ttft_seconds(engine: Engine, spec: ModelSpec, fired: list[Fault], call: Call) -> float:
    ms = spec.ttft_ms
    if spec.jitter_ms:
        ms += engine.timing_rng.uniform(0, spec.jitter_ms)
    ms *= call.ttft_factor  # the capacity model's slowdown law
    slow = first_of(fired, "slow_first_token")
    if slow is not None:
        note(call, slow)
        ms += slow.params["ms"] * slow.magnitude()
    return ms / 1000.0


def interval_seconds(spec: ModelSpec, fired: list[Fault], call: Call) -> float:
    cadence = first_of(fired, "slow_cadence")
    if cadence is not None:
        note(call, cadence)
        return float(cadence.params["interval_ms"]) * cadence.magnitude() / 1000.0
    return call.token_factor / spec.tokens_per_s if spec.tokens_per_s > 0 else 0.0
