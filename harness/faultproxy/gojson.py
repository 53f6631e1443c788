"""JSON the way Toxiproxy's Go server reads and writes it.

Clients of Toxiproxy rely on Go ``encoding/json`` quirks: member names match
case-insensitively, only the first JSON value of a body is read, ``null`` keeps a default, a
wrong JSON type is an error, integers reject ``1.5`` and ``1e3``, and error messages read like
Go's. Output is compact, escapes ``<>&`` and prints float32 numbers in shortest form. Keeping
all of that here lets the API handlers deal only in typed values.
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = [
    "BodyError",
    "Number",
    "Pairs",
    "decode_body",
    "dumps",
    "float32",
    "format_float32",
    "go_type_name",
    "lookup",
    "number_literal",
]

_WS = " \t\r\n"
_FLOAT32_MAX = 3.4028234663852886e38
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class BodyError(ValueError):
    """A request body Go would refuse; ``str()`` is the message after ``bad request body: ``."""


class Pairs(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates kept (Go applies them in order)."""


class Number(float):
    """A JSON number kept with its literal, for Go's ``cannot unmarshal number 1e999`` wording.

    Every non-integral number decodes to one, and so does an integer too long for Python's
    int/str conversion limit (it holds ``float(literal)``, usually infinity): such a number
    fits no Go field, and the API answers 400 instead of failing on the conversion.
    """

    literal: str

    def __new__(cls, literal: str) -> Number:
        number = super().__new__(cls, float(literal))
        number.literal = literal
        return number


#: Longer integer literals become a :class:`Number` (Python refuses to convert > 4300 digits).
_MAX_INT_DIGITS = 4000


def _parse_int(literal: str) -> int | Number:
    if len(literal) > _MAX_INT_DIGITS:
        return Number(literal)
    return int(literal)


def number_literal(value: int | float) -> str:
    """The number as the body wrote it (Go quotes the literal in its errors)."""
    if isinstance(value, Number):
        return value.literal
    return str(value) if isinstance(value, int) else repr(value)


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; Go does not.
    raise _ConstantError(name)


class _ConstantError(Exception):
    pass


def _sanitise(value: Any) -> Any:
    """Replace lone surrogates (from ``\\ud800`` escapes) with U+FFFD as Go does."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, Pairs):
        return Pairs((_sanitise(k), _sanitise(v)) for k, v in value)
    if isinstance(value, list):
        return [_sanitise(v) for v in value]
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=Pairs,
    parse_constant=_reject_constant,
    parse_float=Number,
    parse_int=_parse_int,
)


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ch.isprintable():
        return f"'{ch}'"
    return "'" + json.dumps(ch)[1:-1] + "'"


def _innermost_container(text: str, pos: int) -> str:
    """'{' or '[' open at ``pos`` (to word Go's "after ..." messages)."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _syntax_message(text: str, err: json.JSONDecodeError) -> str:
    pos = err.pos
    if pos >= len(text) or err.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    ch = text[pos]
    msg = err.msg
    if msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(ch)} in string literal"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return f"invalid character {_quote_char(ch)} in string escape code"
    if msg.startswith("Expecting property name"):
        return f"invalid character {_quote_char(ch)} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {_quote_char(ch)} after object key"
    if msg.startswith("Expecting ','"):
        if _innermost_container(text, pos) == "[":
            return f"invalid character {_quote_char(ch)} after array element"
        return f"invalid character {_quote_char(ch)} after object key:value pair"
    return f"invalid character {_quote_char(ch)} looking for beginning of value"


def decode_body(raw: bytes) -> Any:
    """Decode the first JSON value of ``raw``; trailing bytes are ignored, as in Go."""
    text = raw.decode("utf-8", "replace").lstrip(_WS)
    if not text:
        raise BodyError("EOF")
    try:
        value, _end = _DECODER.raw_decode(text)
    except json.JSONDecodeError as err:
        raise BodyError(_syntax_message(text, err)) from None
    except _ConstantError as err:
        raise BodyError(
            f"invalid character {_quote_char(str(err)[0])} looking for beginning of value"
        ) from None
    except RecursionError:
        raise BodyError("exceeded max depth") from None
    return _sanitise(value)


def go_type_name(value: Any) -> str:
    """The JSON type word Go prints in ``cannot unmarshal <type> into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Pairs):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def lookup(obj: Pairs, field: str) -> tuple[bool, Any]:
    """The value of ``field`` matched case-insensitively, the last occurrence winning."""
    found, result = False, None
    folded = field.casefold()
    for key, value in obj:
        if key == field or key.casefold() == folded:
            found, result = True, value
    return found, result


def float32(value: float) -> float:
    """Round to the nearest float32, as Toxiproxy stores ``toxicity``."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def fits_float32(value: float) -> bool:
    return abs(value) <= _FLOAT32_MAX


def fits_int64(value: int) -> bool:
    return _INT64_MIN <= value <= _INT64_MAX


def format_float32(value: float) -> str:
    """Shortest decimal that reads back as the same float32, in Go's JSON layout."""
    value = float32(value)
    if value == 0:
        return "0"
    digits = repr(value)
    for precision in range(1, 10):
        candidate = f"{value:.{precision}g}"
        if float32(float(candidate)) == value:
            digits = candidate
            break
    number = float(digits)
    exponent = abs(number)
    if 1e-6 <= exponent < 1e21:
        text = f"{number:f}".rstrip("0").rstrip(".")
        # f-format can expose binary noise; the shortest digits are the truth.
        if float32(float(text)) != value:
            text = digits
        return text
    mantissa, _, exp = digits.partition("e")
    sign = "-" if exp.startswith("-") else "+"
    exp_digits = exp.lstrip("+-").lstrip("0").rjust(2, "0")
    return f"{mantissa}e{sign}{exp_digits}"


def dumps(value: Any) -> str:
    """Compact JSON with Go's HTML-safe escaping (``<``, ``>``, ``&``, U+2028, U+2029)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
