"""Offline checks of provider faults and capacities, from the mock providers' own catalogue.

The catalogue lives in mock_providers (the authority at run time); `provider_fault_params.py`
is its generated copy as JSON Schema fragments, so `brownout validate` can reject a bad
parameter at its line (with "did you mean") before any mock starts, and `brownout schema` can
describe each fault type's params.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from harness.scenario.provider_fault_params import CATALOGUE

__all__ = [
    "PROVIDER_FAULT_TYPES",
    "capacity_problems",
    "capacity_schema",
    "fault_param_problems",
    "provider_fault_params_schema",
]

#: Fault types the mock providers implement (a test keeps them equal to mock_providers').
PROVIDER_FAULT_TYPES: tuple[str, ...] = tuple(CATALOGUE["types"])

Problem = tuple[tuple[str | int, ...], str]


def _params(fault_type: str) -> dict[str, dict[str, Any]]:
    return {**CATALOGUE["types"][fault_type]["params"], **CATALOGUE["common"]}


def provider_fault_params_schema(fault_type: str) -> dict[str, Any]:
    """JSON Schema of the ``params`` object of one provider fault type."""
    return {
        "type": "object",
        "properties": _params(fault_type),
        "additionalProperties": False,
    }


def capacity_schema() -> dict[str, Any]:
    """JSON Schema of ``providers.NAME.capacity`` (and of a ``capacity`` fault's params)."""
    return {
        "type": "object",
        "properties": dict(CATALOGUE["capacity"]),
        "additionalProperties": False,
    }


def _hint(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known: {', '.join(known)}" if known else ""


_JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _value_problem(schema: dict[str, Any], value: Any) -> str | None:
    """What is wrong with `value` under one parameter's schema (the subset the catalogue uses)."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "string" in types and isinstance(value, bool):
        value = "true" if value else "false"  # the mock reads YAML booleans as these strings
    if not any(_JSON_TYPES[t](value) for t in types):
        return f"must be {' or '.join(types)}, found {value!r}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, found {value!r}"
    if "array" in types and not all(isinstance(v, str) for v in value):
        return f"must be a list of strings, found {value!r}"
    if "enum" in schema and value is not None and value not in schema["enum"]:
        return f"must be one of {', '.join(json_repr(v) for v in schema['enum'])}, found {value!r}"
    if _JSON_TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"must be >= {schema['minimum']:g}, found {value!r}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"must be <= {schema['maximum']:g}, found {value!r}"
    return None


def json_repr(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, str)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )


def _object_problems(
    schemas: dict[str, dict[str, Any]], raw: dict[str, Any], what: str
) -> list[Problem]:
    out: list[Problem] = []
    known = list(schemas)
    for key, value in raw.items():
        schema = schemas.get(key)
        if schema is None:
            out.append(((key,), f"{what} takes no param {key!r}{_hint(str(key), known)}"))
            continue
        problem = _value_problem(schema, value)
        if problem is not None:
            out.append(((key,), f"{key} {problem}"))
    return out


def fault_param_problems(
    fault_type: str, params: dict[str, Any], flavour: str | None
) -> list[Problem]:
    """Problems of a provider fault's ``params`` (paths relative to ``params``); none for an
    unknown type (reported on ``type``)."""
    if fault_type not in CATALOGUE["types"]:
        return []
    out = _object_problems(_params(fault_type), params, f"a {fault_type!r} fault")
    if flavour is not None:
        out += _flavour_problems(fault_type, params, flavour)
    return out


def _flavour_problems(fault_type: str, params: dict[str, Any], flavour: str) -> list[Problem]:
    out: list[Problem] = []
    if fault_type == "drift":
        profiles = CATALOGUE["drift_profiles"].get(flavour, [])
        profile = params.get("profile", "")
        if profile not in profiles:
            out.append(
                (
                    ("profile",),
                    f"unknown drift profile {profile!r} for {flavour}"
                    + _hint(str(profile), profiles),
                )
            )
    status = params.get("overload_status")
    if fault_type == "capacity" and status is not None:
        allowed = CATALOGUE["overload_statuses"].get(flavour, [])
        if status not in allowed:
            out.append(
                (
                    ("overload_status",),
                    f"overload_status for {flavour} must be {' or '.join(map(str, allowed))}",
                )
            )
    return out


def capacity_problems(raw: dict[str, Any], flavour: str) -> list[Problem]:
    """Problems of ``providers.NAME.capacity`` (paths relative to it)."""
    out = _object_problems(CATALOGUE["capacity"], raw, "capacity")
    out = [
        (path, msg.replace("capacity takes no param", "unknown capacity key")) for path, msg in out
    ]
    return out + _flavour_problems("capacity", raw, flavour)
