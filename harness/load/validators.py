"""Response validators: is this 200 answer actually a good answer?

A brownout often answers 200 with a wrong or empty body, so the load driver judges every
response body against the scenario's validators and records the verdict (``valid``) next to
the HTTP outcome. The checks are pure functions of the body so they are tested without Locust.
The validator models themselves belong to the scenario language (``harness.scenario``).
"""

from __future__ import annotations

import json
from typing import Any

from harness.scenario import ContainsValidator, JsonFieldValidator, Validator

__all__ = ["ContainsValidator", "JsonFieldValidator", "Validator", "check_body"]


_MISSING = object()


def _lookup(document: Any, path: str) -> Any:
    current = document
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _check_one(validator: JsonFieldValidator | ContainsValidator, body: bytes) -> str | None:
    if isinstance(validator, ContainsValidator):
        text = body.decode("utf-8", errors="replace")
        return None if validator.text in text else f"body does not contain {validator.text!r}"
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "body is not JSON"
    value = _lookup(document, validator.field)
    if value is _MISSING:
        return f"field {validator.field!r} is missing"
    if validator.non_empty and value in (None, "", [], {}):
        return f"field {validator.field!r} is empty"
    if validator.equals is not None and value != validator.equals:
        return f"field {validator.field!r} is {value!r}, expected {validator.equals!r}"
    return None


def check_body(
    validators: tuple[JsonFieldValidator | ContainsValidator, ...], body: bytes
) -> tuple[bool | None, str | None]:
    """Judge a response body: (verdict, reason of the first failure).

    The verdict is None when there are no validators, so "not checked" stays distinct from
    "checked and passed" in requests.jsonl.
    """
    if not validators:
        return None, None
    for validator in validators:
        reason = _check_one(validator, body)
        if reason is not None:
            return False, reason
    return True, None
