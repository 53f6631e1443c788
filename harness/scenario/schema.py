"""The scenario format as JSON Schema, for editors (completion, inline errors) and CI linters.

The schema is generated from the pydantic model, then made to accept what the loader accepts:
pydantic alone would type every duration as a number (``60s`` would be an error) and know
nothing of the fault catalogue. So durations become "a number of seconds or a duration string",
a fault's ``type`` is an enum narrowed by its ``target`` layer, each provider fault's ``params``
and a provider's ``capacity`` follow the mock providers' catalogue
(``harness.scenario.provider_faults``), and each network fault's ``attributes`` name the
toxic's own attributes. The loader stays the authority (it also checks
cross-field rules a schema cannot express); a test checks that every shipped scenario and every
scenario in the docs validates against this schema with ``jsonschema``.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from harness.scenario.durations import DURATION_PATTERN, parse_duration
from harness.scenario.model import NETWORK_FAULT_TYPES, PROVIDER_FAULT_TYPES, Scenario
from harness.scenario.provider_faults import capacity_schema, provider_fault_params_schema

__all__ = ["JSON_SCHEMA_DIALECT", "scenario_json_schema"]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_DURATION_STRING: JsonSchemaValue = {
    "type": "string",
    "pattern": DURATION_PATTERN,
    "description": "a duration: 300ms, 20s, 1.5m, 1h or 1m30s",
}


class _ScenarioSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, except that a field parsed by ``parse_duration`` also accepts the
    duration strings authors write (its numeric bounds still apply to the number form)."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        function = schema.get("function", {})
        if function.get("function") is parse_duration:
            number = self.generate_inner(schema["schema"])
            if not any(k in number for k in ("minimum", "exclusiveMinimum")):
                number["minimum"] = 0
            return {"anyOf": [number, dict(_DURATION_STRING)]}
        return super().function_before_schema(schema)


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file, as ``brownout schema`` prints it."""
    schema: dict[str, Any] = Scenario.model_json_schema(
        by_alias=True, schema_generator=_ScenarioSchemaGenerator
    )
    fault = schema.get("$defs", {}).get("Fault")
    if fault is not None:
        _narrow_fault(fault)
    provider = schema.get("$defs", {}).get("Provider")
    if provider is not None and "capacity" in provider.get("properties", {}):
        provider["properties"]["capacity"] = {
            **provider["properties"]["capacity"],
            **capacity_schema(),
        }
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "brownout scenario", **schema}


def _narrow_fault(fault: dict[str, Any]) -> None:
    """Fault ``type`` as an enum, and per-layer rules keyed on ``target``."""
    properties: dict[str, Any] = fault["properties"]
    all_types = sorted({*PROVIDER_FAULT_TYPES, *NETWORK_FAULT_TYPES})
    properties["type"] = {**properties["type"], "enum": all_types}
    properties["target"] = {
        **properties["target"],
        "pattern": r"^(provider|proxy)/.+$",
        "description": "provider/NAME (a fault in the mock provider) or proxy/NAME (a toxic)",
    }
    rules: list[dict[str, Any]] = [
        {
            "if": _target_is("provider"),
            "then": {
                "properties": {
                    "type": {"enum": list(PROVIDER_FAULT_TYPES)},
                    "attributes": {"maxProperties": 0},
                }
            },
        },
        {
            "if": _target_is("proxy"),
            "then": {
                "properties": {
                    "type": {"enum": list(NETWORK_FAULT_TYPES)},
                    "params": {"maxProperties": 0},
                }
            },
        },
    ]
    for fault_type in PROVIDER_FAULT_TYPES:
        # Each provider fault's params, from the mock providers' catalogue (its generated copy).
        rules.append(
            {
                "if": {
                    "properties": {
                        "target": {"pattern": "^provider/"},
                        "type": {"const": fault_type},
                    },
                    "required": ["target", "type"],
                },
                "then": {"properties": {"params": provider_fault_params_schema(fault_type)}},
            }
        )
    for toxic, attributes in NETWORK_FAULT_TYPES.items():
        rules.append(
            {
                "if": {
                    "properties": {
                        "target": {"pattern": "^proxy/"},
                        "type": {"const": toxic},
                    },
                    "required": ["target", "type"],
                },
                "then": {
                    "properties": {
                        "attributes": {
                            "type": "object",
                            "properties": {name: {"type": "integer"} for name in attributes},
                            "additionalProperties": False,
                        }
                    }
                },
            }
        )
    fault["allOf"] = rules


def _target_is(layer: str) -> dict[str, Any]:
    return {
        "properties": {"target": {"pattern": f"^{layer}/"}},
        "required": ["target"],
    }
