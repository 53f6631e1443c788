"""LoadConfig: what the Locust subprocess must do, handed over as a JSON file.

The orchestrator cannot pass Python objects into the Locust process (which must stay separate
because ``import locust`` monkey-patches the interpreter with gevent), so it writes this config
to a file and names it in the ``BROWNOUT_LOAD_CONFIG`` environment variable; the locustfile
reads it back with ``LoadConfig.from_json``. Validation happens on both ends with the same
typed model, and reports every problem at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError

from harness.errors import UsageError
from harness.load.schedule import Profile, Step
from harness.load.validators import Validator

__all__ = [
    "CONFIG_ENV_VAR",
    "LoadConfig",
    "LoadConfigError",
    "RequestSpec",
    "StageSpec",
    "read_load_config",
    "shard_path",
]

#: Environment variable naming the LoadConfig JSON file for the locustfile.
CONFIG_ENV_VAR: Final = "BROWNOUT_LOAD_CONFIG"

_PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class LoadConfigError(UsageError, ValueError):
    """The load configuration is invalid; the message lists every problem."""


@dataclass(frozen=True)
class RequestSpec:
    """The one request every simulated user sends, over and over.

    ``json`` is the body; when ``bodies`` is non-empty each request instead sends one of them,
    drawn at random (seeded by LoadConfig.seed), so the SUT sees varied questions.
    ``name`` labels it in requests.jsonl and Locust's stats (default ``"<METHOD> <path>"``).
    ``timeout_s`` bounds each request; exceeding it is recorded as ``error_class: timeout``.
    ``stream``: read the body as it arrives and record ``ttft_ms``, the time to its first byte,
    and ``itl_ms``, the mean gap between the chunks after it (for SSE or chunked answers); a
    body that breaks off is a ``connection``/``timeout`` error.
    In a mix (LoadConfig.requests), ``weight`` is its share and ``validators`` judge its answers
    on top of the load's; strings may hold ``{row.FIELD}`` placeholders filled from the dataset.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    path: Annotated[str, Field(pattern=r"^/")] = "/ask"
    method: HttpMethod = "POST"
    json: Any = None
    bodies: tuple[Any, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: _PositiveSeconds = 30.0
    name: Annotated[str, Field(min_length=1)] | None = None
    stream: bool = False
    weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    validators: tuple[Validator, ...] = ()

    @property
    def label(self) -> str:
        return self.name or f"{self.method} {self.path}"


@dataclass(frozen=True)
class StageSpec:
    """Hold ``value`` (users, or requests/s in the open model) for ``duration_s``; with
    ``ramp``, move there linearly from the previous stage's value."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    duration_s: _PositiveSeconds
    value: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    ramp: bool = False


@dataclass(frozen=True)
class LoadConfig:
    """The load: closed (``users`` users, each sending then pausing ``wait_s``) or open
    (requests arriving at ``rate`` per second, ``arrivals`` poisson or constant, at most
    ``max_in_flight`` outstanding: an arrival over it is written to ``dropped_file``), either
    one shaped by ``stages``. ``workers`` is how many Locust worker processes share it (1: a
    single local process); each worker writes its own ``requests.w<N>.jsonl`` beside
    ``requests_file``. ``requests`` is a weighted mix (empty: ``request`` alone);
    ``dataset_file`` (CSV or JSONL) fills ``{row.FIELD}`` placeholders, rows taken in order or
    at random (``dataset_order``). ``locustfile`` replaces brownout's users with the user's own.

    ``host`` is the SUT's base URL; ``run_time_s`` is how long load lasts once started;
    ``requests_file`` is where the records go (requests.jsonl in the run directory);
    ``stop_timeout_s`` is how long in-flight requests may finish when the run time is over.
    ``seed`` seeds the users' random choices (request ids stay unique regardless).
    ``health_file``, when set, receives a LoadHealthSample line every ``health_interval_s``
    (see harness.load.health).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")

    host: Annotated[str, Field(pattern=r"^https?://[^/\s]+")]
    run_time_s: _PositiveSeconds
    requests_file: str
    users: Annotated[int, Field(ge=1)] = 1
    spawn_rate: _PositiveSeconds = 1.0
    model: Literal["closed", "open"] = "closed"
    rate: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    arrivals: Literal["poisson", "constant"] = "poisson"
    max_in_flight: Annotated[int, Field(ge=1)] = 1000
    stages: tuple[StageSpec, ...] = ()
    workers: Annotated[int, Field(ge=1)] = 1
    dropped_file: str | None = None
    request: RequestSpec = field(default_factory=RequestSpec)
    requests: tuple[RequestSpec, ...] = ()
    dataset_file: str | None = None
    dataset_order: Literal["sequential", "random"] = "sequential"
    wait_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    validators: tuple[Validator, ...] = ()
    seed: int | None = None
    stop_timeout_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 5.0
    health_file: str | None = None
    health_interval_s: _PositiveSeconds = 1.0
    #: The user's own locustfile (absolute path): its User classes send the load, and
    #: harness.load.custom records their requests (closed model only).
    locustfile: str | None = None
    #: opt-in bodies (harness.bodies): capped, redacted, one line per request in bodies_file
    bodies_file: str | None = None

    def __post_init__(self) -> None:
        if self.model == "open" and self.rate is None and not self.stages:
            raise ValueError("an open model needs rate or stages")
        if self.model == "open" and self.locustfile is not None:
            raise ValueError("a custom locustfile runs the closed model only")

    @property
    def templates(self) -> tuple[RequestSpec, ...]:
        """The requests of the mix (``request`` alone when there is no mix)."""
        return self.requests or (self.request,)

    def profile(self) -> Profile:
        """Users (closed) or arrival rate (open) over time."""
        if self.stages:
            return Profile(tuple(Step(s.duration_s, s.value, s.ramp) for s in self.stages))
        value = self.rate if self.model == "open" and self.rate is not None else self.users
        return Profile.constant(float(value))

    @property
    def run_time_whole_s(self) -> int:
        """Locust's ``-t`` takes whole seconds; round up so the load never runs short."""
        return max(1, math.ceil(self.run_time_s))

    def to_json(self) -> str:
        return _ADAPTER.dump_json(self, indent=2).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadConfig:
        try:
            return _ADAPTER.validate_json(text)
        except ValidationError as exc:
            raise LoadConfigError(_describe(exc)) from exc

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadConfig:
        try:
            return _ADAPTER.validate_python(data)
        except ValidationError as exc:
            raise LoadConfigError(_describe(exc)) from exc

    def write(self, path: Path) -> None:
        path.write_text(self.to_json() + "\n", encoding="utf-8")


_ADAPTER: Final = TypeAdapter(LoadConfig)


def _describe(exc: ValidationError) -> str:
    lines = [f"invalid load configuration ({exc.error_count()} problem(s)):"]
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "<root>"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def shard_path(path: Path, worker: int | None) -> Path:
    """Where worker ``worker`` writes the records of ``path`` (``requests.jsonl`` →
    ``requests.w0.jsonl``); a single process (None) writes ``path`` itself."""
    if worker is None:
        return path
    return path.with_name(f"{path.stem}.w{worker}{path.suffix}")


def read_load_config(path: Path) -> LoadConfig:
    """Read a LoadConfig file; a missing or invalid file raises LoadConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadConfigError(f"cannot read load configuration {path}: {exc.strerror}") from exc
    try:
        return LoadConfig.from_json(text)
    except LoadConfigError as exc:
        raise LoadConfigError(f"{path}: {exc}") from exc
