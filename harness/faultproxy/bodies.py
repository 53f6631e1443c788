"""Typed fields out of API request bodies, with Toxiproxy's defaults and 400 messages.

Go decodes a body into a struct: absent or ``null`` members keep the default, a member of the
wrong JSON type is ``json: cannot unmarshal <type> into Go struct field <Struct>.<field> of
type <gotype>``. These helpers give the handlers that behaviour field by field.
"""

from __future__ import annotations

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

__all__ = ["FieldReader", "bad_body", "decode_object"]


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

    def string(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._mismatch(name, value, "string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._mismatch(name, value, "bool")
        return value

    def float32(self, name: str, default: float) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._mismatch(name, value, "float32")
        if not fits_float32(float(value)):
            raise self._mismatch(name, value, "float32")
        return float(value)

    def integer(self, name: str, default: int, go_type: str = "int64") -> int:
        value = self._get(name)
        if value is None:
            return default
        # Go parses integers from the literal: 100.5 and 1e3 are both errors.
        if isinstance(value, bool) or not isinstance(value, int) or not fits_int64(value):
            raise self._mismatch(name, value, go_type)
        return value
