"""The typed scenario: what load, which faults when, what must hold.

Beyond ``load_scenario`` nothing in brownout sees the raw YAML dict; everything works on these
frozen models. Durations are stored in seconds (``*_s`` fields) but written ``at``/``for``/… in
YAML, through aliases, so error paths name the keys the author typed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    model_validator,
)

from harness.scenario.durations import format_duration, parse_duration
from harness.scenario.load_model import (
    ContainsValidator,
    JsonFieldValidator,
    Load,
    Request,
    Validator,
)
from harness.scenario.provider_faults import PROVIDER_FAULT_TYPES
from harness.scenario.provider_model import Burst, ModelCard, Ramp, schedule_json

__all__ = [
    "NETWORK_FAULT_TYPES",
    "PHASES",
    "PROVIDER_FAULT_TYPES",
    "SLO",
    "SLO_METRICS",
    "SUT",
    "ContainsValidator",
    "Fault",
    "JsonFieldValidator",
    "Load",
    "Price",
    "Provider",
    "Proxy",
    "Request",
    "Scenario",
    "Validator",
    "is_loopback_host",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(value: str) -> str:
    """Scenario and fault names end up in file names, URL path segments and Toxiproxy toxic
    names: letters, digits, ``_``, ``.`` and ``-`` only, 64 at most."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            "a name is 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or "
            f"digit (it is used in file names and URLs), found {value!r}"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]

#: Metrics an SLO may name; harness.analysis computes every one of them per phase.
#: The SLO metrics of the client-resilience verdicts (computed by harness.analysis.resilience,
#: which imports this list: the scenario language owns the names an SLO may use).
RESILIENCE_METRICS: tuple[str, ...] = (
    "retry_after_violation_rate",
    "backoff_growth",
    "retry_dispersion",
    "max_attempts_per_call",
    "retries_per_call",
    "abandoned_work_rate",
    "multi_layer_retry_rate",
    "duplicate_call_rate",
    "truncated_accepted_rate",
    "client_cut_stream_rate",
)

SLO_METRICS: tuple[str, ...] = (
    "requests",
    "throughput_rps",
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "provider_attempts",
    "fan_out",
    "retry_amplification",
    "max_queue_depth",
    "max_provider_in_flight",
    "goodput_rps",
    "good_request_fraction",
    "wasted_tokens",
    "recovery_time_s",
    # client-resilience verdicts (docs/metrics.md, "Client resilience")
    *RESILIENCE_METRICS,
    # cost in USD at the scenario's prices
    "cost_usd",
    "cost_per_success_usd",
    "wasted_cost_usd",
)

#: "run" is the whole run after warm-up.
PHASES: tuple[str, ...] = ("baseline", "fault", "recovery", "run")

#: Toxiproxy toxic types and the attributes each takes (Toxiproxy's own names), plus "down",
#: which disables the proxy for the window.
NETWORK_FAULT_TYPES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
    "noop": (),
    "down": (),
}

#: Fault types the mock providers implement, from their catalogue (harness/scenario/
#: provider_faults.py; a test keeps it equal to mock_providers'). Their parameters are checked
#: offline by ``brownout validate`` and again by the mock when the run starts.


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


def is_loopback_host(host: str) -> bool:
    """True for localhost and any 127.0.0.0/8 or ::1 literal."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Provider(_Model):
    """A mock provider: its wire format, how fast its model answers, and what it knows.

    ``knowledge`` maps questions to their right answers, so "200 OK but wrong" (the
    ``wrong_answer`` fault, a drifted answer) is measurable against the truth."""

    flavour: Literal["openai", "anthropic", "azure", "gemini"] = "openai"
    ttft_s: Duration = Field(default=0.0, alias="ttft")
    tokens_per_s: float = Field(default=0.0, ge=0)
    jitter_s: Duration = Field(default=0.0, alias="jitter")
    knowledge: dict[str, str] = Field(default_factory=dict)
    #: Model cards to add or override (any model id is served by default).
    models: list[ModelCard] = Field(default_factory=list)
    #: True: model ids not listed get the provider's 404.
    strict_models: StrictBool = False
    #: Finite capacity (docs/faults.md#capacity); keys checked against the mock's catalogue.
    capacity: dict[str, Any] = Field(default_factory=dict)
    #: Processes serving the mock's port (SO_REUSEPORT), sharing its faults, limits and
    #: capacity: headroom when one core is not enough (docs/performance.md).
    workers: int = Field(default=1, ge=1, le=64)


class Proxy(_Model):
    """A Toxiproxy proxy in front of a provider (by name) or of any ``host:port``.

    ``listen`` is where the proxy listens; port 0 lets the server pick (the embedded proxy and a
    Toxiproxy on the host network both report the port they bound)."""

    upstream: str
    listen: str = "127.0.0.1:0"


class SUT(_Model):
    """Either a command brownout starts (placeholders: ``{python}``, ``{port}``,
    ``{scenario_dir}``, ``{provider.NAME.url}``, ``{proxy.NAME.url}``) or a running ``url``."""

    command: str | list[str] | None = None
    url: str | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    health: str = "/healthz"
    metrics: str | None = "/metrics"
    ready_timeout_s: Duration = Field(default=30.0, alias="ready_timeout", gt=0)

    @model_validator(mode="after")
    def _command_or_url(self) -> SUT:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (brownout starts the SUT) or 'url'")
        return self


class Fault(_Model):
    """One fault window. ``target`` is ``provider/NAME`` (application faults in the mock) or
    ``proxy/NAME`` (a Toxiproxy toxic, or ``down``)."""

    name: Name
    target: str
    type: str
    at_s: Duration = Field(alias="at")
    for_s: Duration = Field(alias="for", gt=0)
    probability: float = Field(default=1.0, ge=0, le=1)
    params: dict[str, Any] = Field(default_factory=dict)
    attributes: dict[str, int] = Field(default_factory=dict)
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(default=1.0, ge=0, le=1)
    # Provider fault schedules (harness/scenario/provider_model.py).
    first: int | None = Field(default=None, ge=1)
    every: int | None = Field(default=None, ge=1)
    burst: Burst | None = None
    ramp: Ramp | None = None
    header_only: StrictBool = False

    @property
    def layer(self) -> str:
        return self.target.partition("/")[0]

    @property
    def target_name(self) -> str:
        return self.target.partition("/")[2]

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    def schedule(self) -> dict[str, Any]:
        """The provider fault's schedule keys, as the mock's control API takes them."""
        return schedule_json(
            self.first, self.every, self.burst, self.ramp, self.header_only, self.for_s
        )


class SLO(_Model):
    name: str = ""
    metric: str
    phase: str = "run"
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _default_name(self) -> SLO:
        if self.max is None and self.min is None:
            raise ValueError("an SLO needs 'max' or 'min' (or both)")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g}): nothing can pass")
        if not self.name:
            bound = f"<= {self.max:g}" if self.max is not None else f">= {self.min:g}"
            object.__setattr__(self, "name", f"{self.metric} in {self.phase} {bound}")
        return self


class Price(_Model):
    """A model's price in USD per million tokens, for the cost metrics (``cost_usd`` …);
    ``cached`` is the price of cached input tokens (the input price when omitted)."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached: float | None = Field(default=None, ge=0)


class Scenario(_Model):
    name: Name
    description: str = ""
    seed: int = 0
    duration_s: Duration = Field(alias="duration", gt=0)
    warmup_s: Duration = Field(default=0.0, alias="warmup")
    allow_non_loopback: StrictBool = False
    #: opt-in: request and response bodies, capped and redacted, in bodies.jsonl (load
    #: generator) and provider_bodies.jsonl (mock providers); see docs/safety.md
    record_bodies: StrictBool = False
    load: Load = Field(default_factory=Load)
    providers: dict[str, Provider] = Field(default_factory=dict)
    proxies: dict[str, Proxy] = Field(default_factory=dict)
    sut: SUT
    faults: list[Fault] = Field(default_factory=list)
    slos: list[SLO] = Field(default_factory=list)
    #: model name (or name prefix) → price; overrides and extends brownout's shipped table
    prices: dict[str, Price] = Field(default_factory=dict)
    #: Values the loader took from the environment with ``${VAR}``: redacted wherever written.
    _secrets: tuple[str, ...] = PrivateAttr(default=())

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def scaled(self, factor: float) -> Scenario:
        """The same scenario with its timeline (not fault magnitudes) multiplied by ``factor``."""
        if factor == 1.0:
            return self
        faults = [_scaled_fault(f, factor) for f in self.faults]
        # Think time and fault magnitudes stay as written: a shorter run keeps the same request
        # rate and the same faults, it only sees less of them.
        return self.model_copy(
            update={
                "duration_s": self.duration_s * factor,
                "warmup_s": self.warmup_s * factor,
                "load": self.load.scaled(factor),
                "faults": faults,
            }
        )

    def to_yaml_data(self) -> dict[str, Any]:
        """Plain data for the resolved ``scenario.yaml``, durations spelled as written."""
        data: dict[str, Any] = self.model_dump(by_alias=True, mode="json")
        for key in ("duration", "warmup"):
            data[key] = format_duration(data[key])
        for key in ("wait", "timeout", "max_schedule_lag"):  # some belong to one model only
            if key in data["load"]:
                data["load"][key] = format_duration(data["load"][key])
        for stage in data["load"]["stages"]:
            stage["for"] = format_duration(stage["for"])
        data["sut"]["ready_timeout"] = format_duration(data["sut"]["ready_timeout"])
        for provider in data["providers"].values():
            provider["ttft"] = format_duration(provider["ttft"])
            provider["jitter"] = format_duration(provider["jitter"])
        for fault in data["faults"]:
            fault["at"] = format_duration(fault["at"])
            fault["for"] = format_duration(fault["for"])
            # Each layer's own knobs only: the loader refuses the other layer's.
            unused: tuple[str, ...] = ()
            unused += ("toxicity", "stream") if fault["target"].startswith("provider/") else ()
            unused += ("probability",) if fault["target"].startswith("proxy/") else ()
            unused += ("toxicity", "stream") if fault["type"] == "down" else ()
            for key in unused:
                fault.pop(key, None)
        return data


def _scaled_fault(fault: Fault, factor: float) -> Fault:
    """A fault's times scaled: its window, and a provider schedule's ``burst`` cycle and
    explicit ``ramp.over`` (a ramp without ``over`` spans the window, already scaled)."""
    update: dict[str, Any] = {"at_s": fault.at_s * factor, "for_s": fault.for_s * factor}
    if fault.burst is not None:
        update["burst"] = fault.burst.model_copy(
            update={"on_s": fault.burst.on_s * factor, "off_s": fault.burst.off_s * factor}
        )
    if fault.ramp is not None and fault.ramp.over_s is not None:
        update["ramp"] = fault.ramp.model_copy(update={"over_s": fault.ramp.over_s * factor})
    return fault.model_copy(update=update)


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""
