"""Typed fields out of API request bodies, with Toxiproxy's defaults and 400 messages.

Go decodes a body into a struct: absent or ``null`` members keep the default, a member of the
wrong JSON type is ``json: cannot unmarshal <type> into Go struct field <Struct>.<field> of
type <gotype>``. These helpers give the handlers that behaviour field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from harness.faultproxy.gojson import (
    BodyError,
    Pairs,
    decode_body,
    fits_float32,
    fits_int64,
    go_type_name,
    lookup,
    number_literal,
)
from harness.faultproxy.proxy import ApiError

__all__ = ["FieldCheck", "FieldReader", "bad_body", "decode_object"]

#: How a member is checked: a Go type (``string``, ``bool``, ``float32``, ``int64``, ``int``;
#: any other name is a struct, which takes an object), or a function that raises for a bad
#: value (a nested struct checked member by member).
FieldCheck = str | Callable[[Any], None]


def bad_body(message: str) -> ApiError:
    return ApiError(f"bad request body: {message}", 400)


def decode_object(raw: bytes, go_type: str) -> Pairs:
    """The body as an object (``null`` is an empty object, as Go leaves the struct zero)."""
    try:
        value = decode_body(raw)
    except BodyError as err:
        raise bad_body(str(err)) from None
    if value is None:
        return Pairs()
    if not isinstance(value, Pairs):
        raise bad_body(
            f"json: cannot unmarshal {go_type_name(value)} into Go value of type {go_type}"
        )
    return value


class FieldReader:
    """Reads members of one JSON object the way Go fills the struct ``go_struct``."""

    def __init__(self, obj: Pairs, go_struct: str) -> None:
        self.obj = obj
        self.go_struct = go_struct

    def _get(self, name: str) -> Any:
        _found, value = lookup(self.obj, name)
        return value

    def has(self, name: str) -> bool:
        found, value = lookup(self.obj, name)
        return found and value is not None

    def _mismatch(self, name: str, value: Any, go_type: str) -> ApiError:
        kind = go_type_name(value)
        if kind == "number" and go_type in ("int", "int64", "float32"):
            # Go quotes the literal only when the field is a number too (range, fraction).
            kind = f"number {number_literal(value)}"
        return bad_body(
            f"json: cannot unmarshal {kind} into Go struct field "
            f"{self.go_struct}.{name} of type {go_type}"
        )

    def check_in_document_order(self, checks: Mapping[str, FieldCheck]) -> None:
        """Raise for the first wrongly typed member in the order the body lists them.

        Go's decoder keeps its first type error and reads on, so with several bad members it
        reports the first one in the document, and a member given twice is an error if either
        value is (the last one is what a valid body keeps). Keys match a field exactly or
        case-insensitively, as in Go; ``null`` leaves a field as it is.
        """
        folded = {name.casefold(): name for name in checks}
        for key, value in self.obj:
            name = key if key in checks else folded.get(key.casefold())
            if name is None or value is None:
                continue
            check = checks[name]
            if callable(check):
                check(value)
            else:
                self._check(name, value, check)

    def _check(self, name: str, value: Any, go_type: str) -> None:
        if go_type == "string":
            good = isinstance(value, str)
        elif go_type == "bool":
            good = isinstance(value, bool)
        elif go_type == "float32":
            good = (
                not isinstance(value, bool)
                and isinstance(value, int | float)
                and fits_float32(float(value))
            )
        elif go_type in ("int64", "int"):
            # Go parses integers from the literal: 100.5 and 1e3 are both errors.
            good = not isinstance(value, bool) and isinstance(value, int) and fits_int64(value)
        else:  # a struct: any object will do (members it lacks are ignored)
            good = isinstance(value, Pairs)
        if not good:
            raise self._mismatch(name, value, go_type)

    def string(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        self._check(name, value, "string")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        self._check(name, value, "bool")
        return bool(value)

    def float32(self, name: str, default: float) -> float:
        value = self._get(name)
        if value is None:
            return default
        self._check(name, value, "float32")
        return float(value)

    def integer(self, name: str, default: int, go_type: str = "int64") -> int:
        value = self._get(name)
        if value is None:
            return default
        self._check(name, value, go_type)
        return int(value)
