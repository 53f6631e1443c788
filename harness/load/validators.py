"""Response validators: is this 200 answer actually a good answer?

A brownout often answers 200 with a wrong or empty body, so the load driver judges every
response body against the scenario's validators and records the verdict (``valid``) next to
the HTTP outcome. The checks are pure functions of the body so they are tested without Locust.
The validator models themselves belong to the scenario language (``harness.scenario``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from harness.scenario import ContainsValidator, JsonFieldValidator, Validator

__all__ = ["ContainsValidator", "JsonFieldValidator", "Validator", "check_body"]


_MISSING = object()
_NOT_JSON = object()


def _parse(body: bytes) -> Any:
    """The body as JSON, as ``json.loads`` reads it but for numbers, or ``_NOT_JSON``.

    orjson first (several times faster); whatever it refuses goes to ``json.loads``, which
    accepts more (NaN, 1e400, lone surrogates, UTF-16/32, a BOM). Where both accept a
    document they read it the same except one thing: orjson reads an integer beyond 64 bits
    as a float, so a number (or a container) compared with ``equals`` is looked up again in
    ``_parse_exact``'s document."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_exact(body)


def _parse_exact(body: bytes) -> Any:
    """The body exactly as ``json.loads`` reads it, or ``_NOT_JSON``."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NOT_JSON


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


class _Body:
    """The body, with its text and its JSON document each worked out once, when first asked
    for: several validators of a request share them."""

    __slots__ = ("_document", "_exact", "_text", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._text: str | None = None
        self._document: Any = _MISSING
        self._exact: Any = _MISSING

    def text(self) -> str:
        if self._text is None:
            self._text = self.raw.decode("utf-8", errors="replace")
        return self._text

    def document(self) -> Any:
        if self._document is _MISSING:
            self._document = _parse(self.raw)
        return self._document

    def exact_document(self) -> Any:
        if self._exact is _MISSING:
            self._exact = _parse_exact(self.raw)
        return self._exact


def _check_one(validator: JsonFieldValidator | ContainsValidator, body: _Body) -> str | None:
    if isinstance(validator, ContainsValidator):
        text = body.text()
        return None if validator.text in text else f"body does not contain {validator.text!r}"
    document = body.document()
    if document is _NOT_JSON:
        return "body is not JSON"
    value = _lookup(document, validator.field)
    if value is _MISSING:
        return f"field {validator.field!r} is missing"
    if validator.non_empty and value in (None, "", [], {}):
        return f"field {validator.field!r} is empty"
    if validator.equals is not None and not isinstance(value, str | bool | int | None):
        # A float (or a container of numbers) may be a big integer orjson read as a float.
        value = _lookup(body.exact_document(), validator.field)
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
    shared = _Body(body)
    for validator in validators:
        reason = _check_one(validator, shared)
        if reason is not None:
            return False, reason
    return True, None
