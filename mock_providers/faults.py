"""The fault catalogue and the seeded decisions about which faults hit which call.

A fault is `{"name", "type", "probability", "params"}` (the control API's shape). Every fault owns
a `random.Random` seeded from the mock's `--seed` and the fault's name, and draws once for every
call it is eligible for, so the same seed and the same sequence of calls give the same decisions,
and adding one fault never shifts another's. The catalogue below is the single source of truth:
docs/faults.md is generated from it (`python -m mock_providers.faultdoc`) and a test keeps the two
equal.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mock_providers.models import Flavour
from mock_providers.ratelimit import TokenBucket

ParamKind = Literal["int", "float", "bool", "str", "str_list", "int_or_null", "float_or_null"]

# Both SDKs retry on these, and these are the ones whose real bodies the mock reproduces.
ERROR_STATUSES = (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529)
MAX_STALL_S = 600.0


class FaultSpecError(ValueError):
    """A fault definition the control API must refuse (answered as 400 with this message)."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: ParamKind
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class FaultType:
    """One kind of fault: what it does, its parameters, and which calls it can hit."""

    name: str
    doc: str
    params: tuple[ParamSpec, ...] = ()
    streams_only: bool = False


_AFTER = ParamSpec("after_chunks", "int", 2, "stream frames sent before the fault", minimum=0)

# Common to every type: restrict a fault to some endpoints or models (empty = all).
COMMON_PARAMS = (
    ParamSpec(
        "endpoints", "str_list", [], "only calls to these paths, e.g. `/v1/chat/completions`"
    ),
    ParamSpec("models", "str_list", [], "only calls for these model ids"),
)

CATALOGUE: dict[str, FaultType] = {
    t.name: t
    for t in (
        FaultType(
            "error",
            "Answer with an HTTP error in the provider's exact error body before any output. "
            "502/504 are HTML pages by default, as a real edge sends them.",
            (
                ParamSpec("status", "int", 500, "HTTP status", choices=ERROR_STATUSES),
                ParamSpec(
                    "should_retry",
                    "str",
                    "",
                    "`x-should-retry` header: `true`, `false` or empty for none",
                    choices=("", "true", "false"),
                ),
                ParamSpec(
                    "retry_after_s",
                    "float_or_null",
                    None,
                    "adds `retry-after` / `retry-after-ms`",
                    minimum=0,
                ),
                ParamSpec(
                    "html",
                    "str",
                    "auto",
                    "`auto` (HTML for 502/504), `true`, `false`",
                    choices=("auto", "true", "false"),
                ),
                ParamSpec("message", "str", "", "override the error message"),
            ),
        ),
        FaultType(
            "rate_limit",
            "429 with the provider's rate-limit body and headers. Without `rpm`/`tpm` every hit "
            "call is refused; with them, only calls the fault's own per-minute request/token "
            "buckets cannot cover (then `retry-after` is the real wait).",
            (
                ParamSpec(
                    "retry_after_s",
                    "float_or_null",
                    1.0,
                    "wait announced to the client (null: no header, the SDK backs off)",
                    minimum=0,
                ),
                ParamSpec(
                    "retry_after_header",
                    "str",
                    "both",
                    "which headers carry it",
                    choices=("both", "seconds", "ms"),
                ),
                ParamSpec("rpm", "int_or_null", None, "requests-per-minute bucket", minimum=1),
                ParamSpec("tpm", "int_or_null", None, "tokens-per-minute bucket", minimum=1),
                ParamSpec("quota", "bool", False, "OpenAI `insufficient_quota` instead"),
            ),
        ),
        FaultType(
            "latency",
            "Extra delay before the response starts (a spike when probability < 1).",
            (
                ParamSpec("ms", "float", 1000.0, "added delay", minimum=0, maximum=600_000),
                ParamSpec("jitter_ms", "float", 0.0, "uniform extra 0..jitter", minimum=0),
            ),
        ),
        FaultType(
            "slow_drift",
            "Delay that grows with the time since the fault was applied (slow degradation).",
            (
                ParamSpec("ms_per_s", "float", 100.0, "growth rate", minimum=0),
                ParamSpec("max_ms", "float", 10_000.0, "ceiling", minimum=0, maximum=600_000),
            ),
        ),
        FaultType(
            "slow_first_token",
            "Extra time to first token (for non-streaming calls: extra latency).",
            (ParamSpec("ms", "float", 2000.0, "added TTFT", minimum=0, maximum=600_000),),
        ),
        FaultType(
            "slow_cadence",
            "Stream frames arrive `interval_ms` apart (non-streaming: the same total time).",
            (
                ParamSpec(
                    "interval_ms", "float", 200.0, "gap between frames", minimum=0, maximum=60_000
                ),
            ),
        ),
        FaultType(
            "stream_stall",
            "The stream stops sending after `after_chunks` frames for `stall_s` (bounded), then "
            "resumes or ends without its terminal frame.",
            (
                _AFTER,
                ParamSpec("stall_s", "float", 30.0, "stall length", minimum=0, maximum=MAX_STALL_S),
                ParamSpec(
                    "then", "str", "continue", "after the stall", choices=("continue", "close")
                ),
            ),
            streams_only=True,
        ),
        FaultType(
            "stream_truncate",
            "The stream ends cleanly after `after_chunks` frames, without the terminal frame "
            "(`[DONE]` / `message_stop`) or finish reason.",
            (_AFTER,),
            streams_only=True,
        ),
        FaultType(
            "connection_reset",
            "TCP reset (RST): before any response bytes, or after `after_chunks` stream frames.",
            (
                ParamSpec(
                    "after_chunks",
                    "int_or_null",
                    None,
                    "null: before the response; n: mid-stream (streams only)",
                    minimum=0,
                ),
            ),
        ),
        FaultType(
            "malformed_frame",
            "A stream frame whose `data:` is not valid JSON, after `after_chunks` frames.",
            (_AFTER,),
            streams_only=True,
        ),
        FaultType(
            "stream_error",
            'An error event mid-stream (OpenAI `data: {"error": …}`, Anthropic '
            "`event: error`), then the stream ends.",
            (
                _AFTER,
                ParamSpec(
                    "error_type",
                    "str",
                    "",
                    "error type (default: `server_error` / `overloaded_error`)",
                ),
            ),
            streams_only=True,
        ),
        FaultType(
            "drift",
            "Response-format drift: a named profile changes the shape of otherwise good replies "
            "(see the profile table).",
            (ParamSpec("profile", "str", "", "drift profile name"),),
        ),
        FaultType(
            "tokenizer",
            "Tokenizer change: counts scaled, different stream chunk boundaries, optionally a "
            "smaller context window (then too-long prompts get the real context error).",
            (
                ParamSpec(
                    "scale", "float", 1.5, "token count multiplier", minimum=0.01, maximum=100
                ),
                ParamSpec(
                    "piece_chars", "int", 2, "characters per token/chunk", minimum=1, maximum=64
                ),
                ParamSpec("context_window", "int_or_null", None, "new context window", minimum=1),
            ),
        ),
        FaultType(
            "safety",
            "Safety filter: `content_filter` finish reason, a refusal, or an Azure-style 400.",
            (
                ParamSpec(
                    "mode",
                    "str",
                    "content_filter",
                    "how the filter shows",
                    choices=("content_filter", "refusal", "azure_400"),
                ),
            ),
        ),
        FaultType(
            "deprecation",
            "Model deprecation: 404 for the fault's `models` (all models when empty) with the "
            "provider's not-found body.",
        ),
        FaultType(
            "wrong_answer",
            "A wrong (but stable, well-formed) answer instead of the right one.",
        ),
    )
}

# Types that replace the response before any output; the first one that fires wins.
REJECTING = ("deprecation", "error", "rate_limit", "connection_reset", "safety")


@dataclass
class Fault:
    name: str
    type: str
    probability: float
    params: dict[str, Any]
    rng: random.Random
    applied_at: float = field(default_factory=time.monotonic)
    buckets: list[tuple[str, TokenBucket]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "probability": self.probability,
            "params": self.params,
        }

    def matches(self, endpoint: str, model: str | None, stream: bool) -> bool:
        if CATALOGUE[self.type].streams_only and not stream:
            return False
        if (
            self.type == "connection_reset"
            and self.params["after_chunks"] is not None
            and not stream
        ):
            return False
        endpoints = self.params["endpoints"]
        if endpoints and endpoint not in endpoints:
            return False
        models = self.params["models"]
        return not (models and model not in models)


def _check_param(spec: ParamSpec, value: Any, fault_type: str) -> Any:
    where = f"params.{spec.name} of a {fault_type!r} fault"
    kind = spec.kind
    if value is None and kind.endswith("_or_null"):
        return None
    if kind in ("int", "int_or_null"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultSpecError(f"{where} must be an integer, got {value!r}")
    elif kind in ("float", "float_or_null"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultSpecError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise FaultSpecError(f"{where} must be true or false, got {value!r}")
    elif kind == "str":
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise FaultSpecError(f"{where} must be a string, got {value!r}")
    elif kind == "str_list" and (
        not isinstance(value, list) or not all(isinstance(v, str) for v in value)
    ):
        raise FaultSpecError(f"{where} must be a list of strings, got {value!r}")
    if spec.choices and value not in spec.choices:
        options = ", ".join(repr(c) for c in spec.choices)
        raise FaultSpecError(f"{where} must be one of {options}, got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            raise FaultSpecError(f"{where} must be >= {spec.minimum:g}, got {value!r}")
        if spec.maximum is not None and value > spec.maximum:
            raise FaultSpecError(f"{where} must be <= {spec.maximum:g}, got {value!r}")
    return value


def parse_fault(
    spec: Any, *, seed: int, flavour: Flavour, drift_profiles: tuple[str, ...]
) -> Fault:
    """Validate a control-API fault object; raises `FaultSpecError` naming what is wrong."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault must be a JSON object")
    unknown = set(spec) - {"name", "type", "probability", "params"}
    if unknown:
        raise FaultSpecError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    name = spec.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise FaultSpecError("`name` must be a non-empty string without '/'")
    fault_type = spec.get("type")
    if not isinstance(fault_type, str) or fault_type not in CATALOGUE:
        known = ", ".join(CATALOGUE)
        raise FaultSpecError(f"unknown fault type {fault_type!r}; known types: {known}")
    probability = spec.get("probability", 1.0)
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise FaultSpecError("`probability` must be a number between 0 and 1")
    if not 0.0 <= probability <= 1.0:
        raise FaultSpecError(f"`probability` must be between 0 and 1, got {probability}")
    raw = spec.get("params", {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FaultSpecError("`params` must be a JSON object")
    ftype = CATALOGUE[fault_type]
    specs = {p.name: p for p in (*ftype.params, *COMMON_PARAMS)}
    unknown_params = set(raw) - set(specs)
    if unknown_params:
        raise FaultSpecError(
            f"unknown params for a {fault_type!r} fault: {', '.join(sorted(unknown_params))}; "
            f"known: {', '.join(specs)}"
        )
    params = {
        key: _check_param(p, raw[key], fault_type) if key in raw else _copy(p.default)
        for key, p in specs.items()
    }
    if fault_type == "drift" and params["profile"] not in drift_profiles:
        raise FaultSpecError(
            f"unknown drift profile {params['profile']!r} for {flavour}; known: "
            + ", ".join(drift_profiles)
        )
    fault = Fault(
        name=name,
        type=fault_type,
        probability=float(probability),
        params=params,
        rng=random.Random(f"{seed}:{name}"),
    )
    if fault_type == "rate_limit":
        if params["rpm"] is not None:
            fault.buckets.append(("requests", TokenBucket(params["rpm"])))
        if params["tpm"] is not None:
            fault.buckets.append(("tokens", TokenBucket(params["tpm"])))
    return fault


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


class FaultSet:
    """The faults active on one mock, in the order they were added."""

    def __init__(self) -> None:
        self._faults: dict[str, Fault] = {}

    def put(self, fault: Fault) -> None:
        """Add `fault`; one with the same name is replaced (its decision stream restarts)."""
        self._faults.pop(fault.name, None)
        self._faults[fault.name] = fault

    def remove(self, name: str) -> bool:
        return self._faults.pop(name, None) is not None

    def clear(self) -> None:
        self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults.values()))

    def __bool__(self) -> bool:
        return bool(self._faults)

    def decide(self, endpoint: str, model: str | None, stream: bool) -> list[Fault]:
        """The faults that fire for one call: each eligible fault draws once from its own RNG."""
        fired: list[Fault] = []
        for fault in self._faults.values():
            if fault.matches(endpoint, model, stream) and fault.rng.random() < fault.probability:
                fired.append(fault)
        return fired
