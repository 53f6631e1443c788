"""The ``load`` section of a scenario: who sends what, how often, shaped how over time.

Two models of traffic. ``closed`` (the default): ``users`` simulated users, each waiting for
its answer before sending again, so a slow SUT slows the load down. ``open``: requests arrive
at ``rate`` per second whatever the SUT does, as production users do, so a slow SUT builds a
backlog and retries pile up; each request is timed from when it was due, which is what makes
its latency free of coordinated omission. ``stages`` shape either model over time.

Cross-field rules (a rate with ``model: closed``, a dataset that cannot be read, a template
naming a field the rows lack) are checked by ``harness.scenario.load_checks`` so each problem
is reported at the key that causes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    model_serializer,
    model_validator,
)

from harness.scenario.durations import parse_duration

__all__ = [
    "CLOSED_ONLY_KEYS",
    "OPEN_ONLY_KEYS",
    "ContainsValidator",
    "Dataset",
    "JsonFieldValidator",
    "Load",
    "Request",
    "RequestTemplate",
    "Stage",
    "Validator",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]

#: Users in a closed model, at most (one process of Locust handles about this many).
MAX_USERS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Request(_Model):
    """The HTTP request every simulated user sends to the SUT.

    Strings anywhere in it may name a dataset field as ``{row.FIELD}``; a string that is only
    the placeholder takes the field's value with its type (a JSONL number stays a number)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = "/ask"
    json_body: Any = Field(default=None, alias="json")
    #: When given, each request sends one of these bodies (seeded choice) instead of ``json``.
    bodies: list[Any] = Field(default_factory=list)
    headers: dict[str, str] = Field(default_factory=dict)
    #: Read the answer as it arrives; record time to first byte and inter-chunk latency.
    stream: StrictBool = False

    @model_validator(mode="after")
    def _path_is_absolute(self) -> Request:
        if not self.path.startswith("/"):
            raise ValueError(f"request.path must start with '/', found {self.path!r}")
        return self


class JsonFieldValidator(_Model):
    """The answer is a JSON object with ``field`` (a dotted path, list indices allowed) present;
    with ``non_empty`` (the default) not null or empty; with ``equals``, equal to that value.
    "200 OK but wrong" is what a brownout often looks like, so answers are judged, not trusted."""

    type: Literal["json_field"] = "json_field"
    field: str = Field(min_length=1)
    non_empty: StrictBool = True
    equals: Any = None


class ContainsValidator(_Model):
    """The answer (decoded as UTF-8) contains ``text``."""

    type: Literal["contains"] = "contains"
    text: str = Field(min_length=1)


Validator = Annotated[JsonFieldValidator | ContainsValidator, Field(discriminator="type")]


class RequestTemplate(Request):
    """One named request of a mix: sent with probability ``weight`` / sum of weights, judged by
    its own ``validators`` (in addition to the load's)."""

    name: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0)
    validators: list[Validator] = Field(default_factory=list)


class Stage(_Model):
    """Hold ``users`` (closed) or ``rate`` (open) for ``for``; with ``ramp``, move linearly to
    it from the previous stage's value (from 0 before the first stage)."""

    for_s: Duration = Field(alias="for", gt=0)
    users: int | None = Field(default=None, ge=1, le=MAX_USERS)
    rate: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    ramp: StrictBool = False


class Dataset(_Model):
    """Rows (a ``.csv`` with a header line, or ``.jsonl`` objects) that fill ``{row.FIELD}``
    placeholders; ``path`` is relative to the scenario file. ``order: sequential`` takes the
    rows in file order, cycling; ``random`` draws them (seeded)."""

    path: str = Field(min_length=1)
    order: Literal["sequential", "random"] = "sequential"


#: Keys that belong to one traffic model only (attribute names).
OPEN_ONLY_KEYS = ("rate", "arrivals", "max_in_flight", "max_schedule_lag_s")
CLOSED_ONLY_KEYS = ("users", "spawn_rate", "wait_s")


class Load(_Model):
    model: Literal["closed", "open"] = "closed"
    users: int = Field(default=4, ge=1, le=MAX_USERS)
    spawn_rate: float | None = Field(default=None, gt=0)
    wait_s: Duration = Field(default=0.0, alias="wait", ge=0)
    rate: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    arrivals: Literal["poisson", "constant"] = "poisson"
    max_in_flight: int = Field(default=1000, ge=1, le=100_000)
    max_schedule_lag_s: Duration = Field(default=0.05, alias="max_schedule_lag", gt=0)
    stages: list[Stage] = Field(default_factory=list)
    timeout_s: Duration = Field(default=30.0, alias="timeout", gt=0)
    request: Request = Field(default_factory=Request)
    requests: list[RequestTemplate] = Field(default_factory=list)
    dataset: Dataset | None = None
    validators: list[Validator] = Field(default_factory=list)
    locustfile: str | None = Field(default=None, min_length=1)

    @property
    def closed_users(self) -> int:
        """The users of a closed model: ``users``, or the largest stage."""
        staged = [s.users for s in self.stages if s.users is not None]
        return max(staged) if staged else self.users

    @model_serializer(mode="wrap")
    def _only_this_models_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The resolved scenario.yaml must load back: leave out the other model's keys, which
        # would be an error there (a rate under model: closed, users under model: open).
        data: dict[str, Any] = handler(self)
        if self.locustfile is not None:
            # The user's classes build the requests: these keys are an error beside it.
            for key in ("request", "requests", "dataset", "validators"):
                data.pop(key, None)
        for name in CLOSED_ONLY_KEYS if self.model == "open" else OPEN_ONLY_KEYS:
            field = Load.model_fields[name]
            data.pop(name, None)
            data.pop(field.alias or name, None)
        return data

    def with_files_from(self, base_dir: Path) -> Load:
        """The locustfile and dataset paths made absolute (they are written relative to the
        scenario), so the resolved scenario.yaml in the run directory still names them."""
        update: dict[str, Any] = {}
        if self.locustfile is not None:
            update["locustfile"] = str((base_dir / self.locustfile).resolve())
        if self.dataset is not None:
            path = str((base_dir / self.dataset.path).resolve())
            update["dataset"] = self.dataset.model_copy(update={"path": path})
        return self.model_copy(update=update) if update else self

    def describe(self) -> str:
        """One line for the console: what load this is."""
        if self.model == "open":
            if self.stages:
                return f"open model, {len(self.stages)} rate stage(s)"
            return f"open model, {self.rate:g} requests/s ({self.arrivals})"
        if self.stages:
            return f"closed model, {len(self.stages)} stage(s), up to {self.closed_users} users"
        return f"closed model, {self.closed_users} users"

    def scaled(self, factor: float) -> Load:
        """The stages' durations times ``factor``; rates and users stay as written."""
        if factor == 1.0 or not self.stages:
            return self
        stages = [s.model_copy(update={"for_s": s.for_s * factor}) for s in self.stages]
        return self.model_copy(update={"stages": stages})
