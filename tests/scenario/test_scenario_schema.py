"""``brownout schema`` accepts what the loader accepts: every shipped scenario validates against
it with jsonschema, and the schema still rejects what the loader rejects where a schema can."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.scenario import parse_duration
from harness.scenario.schema import scenario_json_schema

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
VALIDATOR = jsonschema.Draft202012Validator(scenario_json_schema())


def errors(data: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(data)]


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(scenario_json_schema())


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_validates(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


QUICKSTART = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text(encoding="utf-8"))


def with_change(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(QUICKSTART)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize("text", ["1m30s", "300ms", "1.5m", "1h2m", "90", "2m 5s"])
def test_duration_strings_the_loader_accepts_validate(text: str) -> None:
    parse_duration(text)  # the loader's own parser agrees
    assert errors(with_change(("duration",), text)) == []


@pytest.mark.parametrize("text", ["soon", "30s1m", "1x", "", "-5s"])
def test_duration_strings_the_loader_rejects_do_not(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
    assert errors(with_change(("duration",), text))


def test_fault_type_is_an_enum_narrowed_by_the_target_layer() -> None:
    assert errors(with_change(("faults", 0, "type"), "eror"))
    # `error` is a provider fault, not a toxic:
    assert errors(with_change(("faults", 1, "type"), "error"))
    assert errors(with_change(("faults", 0, "target"), "openai"))


def test_toxic_attributes_are_the_toxics_own() -> None:
    assert errors(with_change(("faults", 1, "attributes"), {"latncy": 300}))
    assert errors(with_change(("faults", 1, "attributes"), {"latency": "300"}))
    assert errors(with_change(("faults", 1, "attributes"), {"latency": 300, "jitter": 5})) == []


def test_provider_fault_params_follow_the_catalogue() -> None:
    assert errors(with_change(("faults", 0, "params"), {"status": 503, "retry_after_s": 1})) == []
    assert errors(with_change(("faults", 0, "params"), {"retry_aftr_s": 1}))  # a typo
    assert errors(with_change(("faults", 0, "params"), {"status": "500"}))  # a wrong type
