"""docs/scenarios.md must name every key the scenario model accepts, and every fault type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from harness.scenario import (
    NETWORK_FAULT_TYPES,
    PROVIDER_FAULT_TYPES,
    SLO,
    SUT,
    Dataset,
    Fault,
    Load,
    Provider,
    Proxy,
    Request,
    RequestTemplate,
    Scenario,
    Stage,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text(encoding="utf-8")


def keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def test_every_key_is_documented() -> None:
    models: list[Any] = [Scenario, Load, Stage, Dataset, Provider, Proxy, SUT, Fault, SLO]
    missing = [
        f"{model.__name__}.{key}"
        for model in models
        for key in keys(model)
        if f"`{key}`" not in DOC
    ]
    missing += [f"request.{key}" for key in keys(Request) if f"`request.{key}`" not in DOC]
    # A template of a mix takes the request's keys plus its own.
    own = set(keys(RequestTemplate)) - set(keys(Request))
    missing += [f"requests[].{key}" for key in sorted(own) if f"`{key}`" not in DOC]
    assert not missing


def test_every_fault_type_is_documented() -> None:
    for name in (*PROVIDER_FAULT_TYPES, *NETWORK_FAULT_TYPES):
        assert f"`{name}`" in DOC, name
