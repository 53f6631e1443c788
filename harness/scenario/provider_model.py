"""The provider side of a scenario: model cards, strict models, capacity, fault schedules.

Kept apart from model.py (which holds the scenario as a whole) so the provider's growing
vocabulary has one place; the mock's own catalogue is the authority on values, checked offline
through `provider_faults`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, model_validator

from harness.scenario.durations import parse_duration

__all__ = ["Burst", "ModelCard", "Ramp", "ScheduleKeys", "provider_file", "schedule_json"]

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelCard(_Model):
    """A model the mock lists (``GET /v1/models``), added or overriding a built-in one. Keys left
    out keep the built-in card's value (or the flavour's default card's)."""

    id: str = Field(min_length=1, max_length=256)
    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    max_output_tokens: int | None = Field(default=None, ge=0, le=100_000_000)
    kind: Literal["chat", "embedding"] | None = None
    display_name: str | None = None
    embedding_dims: int | None = Field(default=None, ge=1, le=65_536)


class Burst(_Model):
    """An on/off cycle inside the fault's window: it fires only in the ``on`` part."""

    on_s: Duration = Field(alias="on", gt=0)
    off_s: Duration = Field(alias="off", gt=0)

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, data: Any) -> Any:
        # YAML 1.1 reads the keys `on:` and `off:` as true and false.
        if isinstance(data, dict):
            names = {True: "on", False: "off"}
            return {names.get(k, k) if isinstance(k, bool) else k: v for k, v in data.items()}
        return data


class Ramp(_Model):
    """Probability (or magnitude) rising linearly from ``from`` to ``to`` over ``over``
    (default: the fault's window), for slow drift."""

    over_s: Duration | None = Field(default=None, alias="over", gt=0)
    from_: float = Field(default=0.0, alias="from", ge=0, le=1000)
    to: float = Field(default=1.0, ge=0, le=1000)
    of: Literal["probability", "magnitude"] = "probability"


class ScheduleKeys(_Model):
    """The schedule keys a provider fault may carry beside ``probability``."""

    first: int | None = Field(default=None, ge=1)
    every: int | None = Field(default=None, ge=1)
    burst: Burst | None = None
    ramp: Ramp | None = None
    header_only: StrictBool = False


def schedule_json(
    first: int | None,
    every: int | None,
    burst: Burst | None,
    ramp: Ramp | None,
    header_only: bool,
    window_s: float,
) -> dict[str, Any]:
    """The schedule keys as the mock's control API takes them (seconds, ``over_s`` filled)."""
    out: dict[str, Any] = {}
    if first is not None:
        out["first"] = first
    if every is not None:
        out["every"] = every
    if burst is not None:
        out["burst"] = {"on_s": burst.on_s, "off_s": burst.off_s}
    if ramp is not None:
        out["ramp"] = {
            "over_s": ramp.over_s if ramp.over_s is not None else window_s,
            "from": ramp.from_,
            "to": ramp.to,
            "of": ramp.of,
        }
    if header_only:
        out["header_only"] = True
    return out


def provider_file(
    models: list[ModelCard], strict_models: bool, capacity: dict[str, Any]
) -> dict[str, Any]:
    """The mock's ``--config`` file for one provider."""
    return {
        "models": [m.model_dump(exclude_none=True) for m in models],
        "strict_models": strict_models,
        "capacity": capacity,
    }
