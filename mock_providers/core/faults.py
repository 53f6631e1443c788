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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from mock_providers.core.models import Flavour
from mock_providers.core.ratelimit import TokenBucket

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


# The keys of a provider's `capacity` (and of the `capacity` fault), explained in capacity.py.
CAPACITY_PARAMS = (
    ParamSpec(
        "max_concurrency",
        "int_or_null",
        None,
        "calls served at once (null: unlimited)",
        minimum=1,
        maximum=1_000_000,
    ),
    ParamSpec(
        "queue",
        "int_or_null",
        None,
        "calls waiting for a slot (null: unbounded); more get the overload answer",
        minimum=0,
        maximum=1_000_000,
    ),
    ParamSpec(
        "overload_status",
        "int_or_null",
        None,
        "overload answer's status (default and choices per flavour: see Capacity)",
        choices=(429, 503, 529),
    ),
    ParamSpec(
        "ttft_slowdown",
        "float",
        0.0,
        "TTFT x (1 + this*(n-1)/max_concurrency) with n calls in service",
        minimum=0,
        maximum=1000,
    ),
    ParamSpec(
        "tokens_slowdown",
        "float",
        0.0,
        "time per token x (1 + this*(n-1)/max_concurrency)",
        minimum=0,
        maximum=1000,
    ),
    ParamSpec(
        "rpm",
        "int_or_null",
        None,
        "enforced requests per minute per API key (null: reported, never enforced)",
        minimum=1,
    ),
    ParamSpec(
        "tpm",
        "int_or_null",
        None,
        "enforced tokens (prompt + max output) per minute per API key",
        minimum=1,
    ),
)

# Which statuses each flavour answers overload with (the first is the default).
OVERLOAD_STATUSES: dict[Flavour, tuple[int, ...]] = {
    "openai": (503, 429),
    "anthropic": (529, 503),
    "azure": (429, 503),
    "gemini": (503, 429),
}


def check_overload_status(status: Any, flavour: Flavour) -> None:
    allowed = OVERLOAD_STATUSES[flavour]
    if status is not None and status not in allowed:
        choices = " or ".join(str(s) for s in allowed)
        raise FaultSpecError(f"overload_status for {flavour} must be {choices}, got {status!r}")


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
            'An error event mid-stream (OpenAI and Azure `data: {"error": …}`, Anthropic '
            '`event: error`, Gemini `data: {"error": {code, message, status}}`), then the '
            "stream ends.",
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
            "Safety filter: `content_filter` finish reason (Gemini `SAFETY`, Azure with the "
            "filter results marked), a refusal, or the prompt-block answer `azure_400`: "
            "Azure's 400 `content_filter` for OpenAI and Azure, Anthropic's 400 "
            "`invalid_request_error`, Gemini's 200 with "
            "`promptFeedback.blockReason: SAFETY` and no candidates.",
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
        FaultType(
            "capacity",
            "Changes the provider's capacity while the fault is active (a capacity drop is a "
            "classic trigger): the params given replace the provider's own `capacity` keys, "
            "the others keep their values; removing the fault restores them. Takes no "
            "probability, schedule or `endpoints`/`models`.",
            CAPACITY_PARAMS,
        ),
    )
}

# Types that replace the response before any output; the first one that fires wins.
REJECTING = ("deprecation", "error", "rate_limit", "connection_reset", "safety")


# Params whose value is the fault's magnitude (what a `ramp` of `magnitude` scales).
MAGNITUDE_PARAMS: dict[str, tuple[str, ...]] = {
    "latency": ("ms", "jitter_ms"),
    "slow_drift": ("max_ms",),
    "slow_first_token": ("ms",),
    "slow_cadence": ("interval_ms",),
    "stream_stall": ("stall_s",),
}


@dataclass(frozen=True)
class Schedule:
    """When a fault fires, beside its probability (all conditions must hold; see SCHEDULE_KEYS).

    Counts are of the calls the fault matches (endpoint, model, stream) since it was applied;
    times are from the moment it was applied. The fault's seeded RNG draws once per matching
    call whatever the schedule says, so a schedule never shifts the decisions that follow.
    """

    first: int | None = None
    every: int | None = None
    burst_on_s: float | None = None
    burst_off_s: float | None = None
    ramp_over_s: float | None = None
    ramp_from: float = 0.0
    ramp_to: float = 1.0
    ramp_of: str = "probability"
    header_only: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.first is not None:
            out["first"] = self.first
        if self.every is not None:
            out["every"] = self.every
        if self.burst_on_s is not None:
            out["burst"] = {"on_s": self.burst_on_s, "off_s": self.burst_off_s}
        if self.ramp_over_s is not None:
            out["ramp"] = {
                "over_s": self.ramp_over_s,
                "from": self.ramp_from,
                "to": self.ramp_to,
                "of": self.ramp_of,
            }
        if self.header_only:
            out["header_only"] = True
        return out


NO_SCHEDULE = Schedule()
#: The fault keys beside `probability` that shape when it fires (docs/faults.md).
SCHEDULE_KEYS: dict[str, str] = {
    "first": "integer >= 1: only the first N matching calls",
    "every": "integer >= 1: only every K-th matching call (the K-th, 2K-th, …)",
    "burst": "`{on_s, off_s}` (seconds > 0): fires only in the `on` part of an on/off cycle",
    "ramp": "`{over_s, from, to, of}`: `of: probability` (default) rises the probability "
    "linearly from `from` (default 0) to `to` (default 1) over `over_s` seconds; "
    "`of: magnitude` scales the fault's size (delays) by a factor rising from `from` to `to`",
    "header_only": "true: fires only on requests naming it in `x-brownout-fault`",
}
FAULT_HEADER = b"x-brownout-fault"


@dataclass
class Fault:
    name: str
    type: str
    probability: float
    params: dict[str, Any]
    rng: random.Random
    applied_at: float = field(default_factory=time.monotonic)
    buckets: list[tuple[str, TokenBucket]] = field(default_factory=list)
    schedule: Schedule = NO_SCHEDULE
    # The params the fault's author gave (a `capacity` fault changes only these).
    given: frozenset[str] = frozenset()
    seen: int = 0
    #: with several workers: this call's number and seeded draw across all of them
    #: (core.shared_faults); None in one process, where ``rng`` draws
    shared_count: Callable[[], tuple[int, float]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "probability": self.probability,
            "params": self.params,
            **self.schedule.to_json(),
        }

    def fires(self, now: float) -> bool:
        """One matching call's decision: the seeded draw, then the schedule."""
        if self.shared_count is None:
            draw = self.rng.random()
            self.seen += 1
        else:
            self.seen, draw = self.shared_count()
        s = self.schedule
        if s is NO_SCHEDULE:
            return draw < self.probability
        if s.header_only:
            return False
        if s.first is not None and self.seen > s.first:
            return False
        if s.every is not None and self.seen % s.every:
            return False
        age = now - self.applied_at
        if (
            s.burst_on_s is not None
            and s.burst_off_s is not None
            and age % (s.burst_on_s + s.burst_off_s) >= s.burst_on_s
        ):
            return False
        probability = self.probability
        if s.ramp_over_s is not None and s.ramp_of == "probability":
            probability = self.ramp_value(age)
        return draw < probability

    def ramp_value(self, age_s: float) -> float:
        s = self.schedule
        assert s.ramp_over_s is not None
        frac = min(1.0, max(0.0, age_s / s.ramp_over_s))
        return s.ramp_from + (s.ramp_to - s.ramp_from) * frac

    def magnitude(self) -> float:
        """The factor on this fault's delays now (1 unless it ramps its magnitude)."""
        s = self.schedule
        if s.ramp_over_s is None or s.ramp_of != "magnitude":
            return 1.0
        return self.ramp_value(time.monotonic() - self.applied_at)

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


def check_param(spec: ParamSpec, value: Any, fault_type: str, where: str = "") -> Any:
    """`value` checked against `spec` (and normalised); raises `FaultSpecError`."""
    where = where or f"params.{spec.name} of a {fault_type!r} fault"
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
    unknown = set(spec) - {"name", "type", "probability", "params", *SCHEDULE_KEYS}
    if unknown:
        raise FaultSpecError(
            f"unknown fault keys: {', '.join(sorted(unknown))}; known: name, type, "
            f"probability, params, {', '.join(SCHEDULE_KEYS)}"
        )
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
        key: check_param(p, raw[key], fault_type) if key in raw else _copy(p.default)
        for key, p in specs.items()
    }
    schedule = parse_schedule(spec)
    if fault_type == "capacity":
        check_overload_status(params["overload_status"], flavour)
        if probability != 1.0 or schedule != NO_SCHEDULE:
            raise FaultSpecError("a 'capacity' fault takes no probability or schedule")
        if params["endpoints"] or params["models"]:
            raise FaultSpecError("a 'capacity' fault applies to the whole provider")
    if schedule.ramp_of == "magnitude" and fault_type not in MAGNITUDE_PARAMS:
        raise FaultSpecError(
            f"ramp of magnitude needs a fault with a size: {', '.join(MAGNITUDE_PARAMS)}"
        )
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
        schedule=schedule,
        given=frozenset(raw),
    )
    if fault_type == "rate_limit":
        if params["rpm"] is not None:
            fault.buckets.append(("requests", TokenBucket(params["rpm"])))
        if params["tpm"] is not None:
            fault.buckets.append(("tokens", TokenBucket(params["tpm"])))
    return fault


def _count(spec: dict[str, Any], key: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultSpecError(f"`{key}` must be an integer >= 1, got {value!r}")
    return value


def _seconds(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
        raise FaultSpecError(f"`{where}.{key}` must be seconds in (0, 86400], got {value!r}")
    return float(value)


def _sub_object(spec: dict[str, Any], key: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FaultSpecError(f"`{key}` must be an object with {', '.join(keys)}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise FaultSpecError(
            f"unknown `{key}` keys: {', '.join(unknown)}; known: {', '.join(keys)}"
        )
    return value


def parse_schedule(spec: dict[str, Any]) -> Schedule:
    """The schedule keys of a control-API fault object; raises `FaultSpecError`."""
    keys = {k: spec[k] for k in SCHEDULE_KEYS if k in spec}
    if not keys:
        return NO_SCHEDULE
    header_only = spec.get("header_only", False)
    if not isinstance(header_only, bool):
        raise FaultSpecError(f"`header_only` must be true or false, got {header_only!r}")
    burst = _sub_object(spec, "burst", ("on_s", "off_s"))
    ramp = _sub_object(spec, "ramp", ("over_s", "from", "to", "of"))
    on_s = off_s = over_s = None
    if burst is not None:
        on_s, off_s = _seconds(burst, "on_s", "burst"), _seconds(burst, "off_s", "burst")
    ramp_from, ramp_to, ramp_of = 0.0, 1.0, "probability"
    if ramp is not None:
        over_s = _seconds(ramp, "over_s", "ramp")
        ramp_of = ramp.get("of", "probability")
        if ramp_of not in ("probability", "magnitude"):
            raise FaultSpecError(f"`ramp.of` must be probability or magnitude, got {ramp_of!r}")
        top = 1.0 if ramp_of == "probability" else 1000.0
        ends = []
        for key, default in (("from", 0.0), ("to", 1.0)):
            value = ramp.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FaultSpecError(f"`ramp.{key}` must be a number, got {value!r}")
            if not 0.0 <= value <= top:
                raise FaultSpecError(f"`ramp.{key}` of {ramp_of} must be in [0, {top:g}]")
            ends.append(float(value))
        ramp_from, ramp_to = ends
    return Schedule(
        first=_count(spec, "first"),
        every=_count(spec, "every"),
        burst_on_s=on_s,
        burst_off_s=off_s,
        ramp_over_s=over_s,
        ramp_from=ramp_from,
        ramp_to=ramp_to,
        ramp_of=ramp_of,
        header_only=header_only,
    )


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

    def sync(self) -> None:
        """Catch up with changes made elsewhere: nothing to do in one process (see
        core.shared_faults for several workers)."""

    def clear(self) -> None:
        self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults.values()))

    def __bool__(self) -> bool:
        return bool(self._faults)

    def get(self, name: str) -> Fault | None:
        return self._faults.get(name)

    def decide(
        self, endpoint: str, model: str | None, stream: bool, named: tuple[str, ...] = ()
    ) -> list[Fault]:
        """The faults that fire for one call: each eligible fault draws once from its own RNG;
        those `named` (by the request's `x-brownout-fault` header) fire whatever they draw."""
        fired: list[Fault] = []
        now = time.monotonic()
        for fault in self._faults.values():
            if fault.type == "capacity" or not fault.matches(endpoint, model, stream):
                continue
            if fault.fires(now) or fault.name in named:
                fired.append(fault)
        return fired

    def unknown(self, named: tuple[str, ...]) -> list[str]:
        """The names in an `x-brownout-fault` header that no active fault has."""
        return [n for n in named if n not in self._faults]

    def capacity(self) -> Fault | None:
        """The capacity fault in force: the last one applied."""
        found = None
        for fault in self._faults.values():
            if fault.type == "capacity":
                found = fault
        return found


def named_faults(headers: list[tuple[bytes, bytes]]) -> tuple[str, ...]:
    """The fault names a request asks for (`x-brownout-fault: a, b`), none when absent."""
    for name, value in headers:
        if name == FAULT_HEADER:
            text = value.decode("latin-1")
            return tuple(n.strip() for n in text.split(",") if n.strip())
    return ()
