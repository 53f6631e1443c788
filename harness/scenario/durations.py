"""Durations as scenario authors write them: ``300ms``, ``20s``, ``1.5m``, ``1h``, compounds
such as ``1m30s`` or ``1h2m``, or a bare number of seconds. Kept tiny and separate because the
model, the JSON Schema and error messages all use it."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_NUMBER = r"\d+(?:\.\d+)?"
#: One or more ``<number><unit>`` parts, largest unit first (``1h2m3s500ms``), or a bare number.
#: The same pattern is published in the JSON Schema, so editors accept what brownout accepts.
DURATION_PATTERN = (
    rf"^\s*(?=\d)(?:{_NUMBER}\s*|(?:{_NUMBER}h)?\s*(?:{_NUMBER}m(?!s))?\s*(?:{_NUMBER}s)?\s*"
    rf"(?:{_NUMBER}ms)?\s*)$"
)
_WHOLE = re.compile(DURATION_PATTERN)
_PART = re.compile(rf"({_NUMBER})\s*(ms|h|m|s)?")
_EXPECTED = "expected a duration such as 300ms, 20s, 1m or 1m30s"
#: No duration in a scenario may exceed a day: it bounds how long any run can last.
MAX_DURATION_S = 86_400.0


def parse_duration(value: object) -> float:
    """Return seconds; raise ValueError with the accepted forms when ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError(f"{_EXPECTED}, found {value!r}")
    seconds: float | None = None
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"expected a finite duration, found {value!r}")
        if value < 0:
            raise ValueError(f"expected a duration >= 0, found {value!r}")
        # Compared before float(): an int of 400 digits does not fit a float.
        seconds = float(value) if value <= MAX_DURATION_S else MAX_DURATION_S + 1
    elif isinstance(value, str) and len(value) <= 64 and _WHOLE.match(value):
        seconds = sum(
            float(number) * _UNITS_S[unit or "s"] for number, unit in _PART.findall(value)
        )
    if seconds is not None:
        if seconds > MAX_DURATION_S:
            raise ValueError(f"expected a duration of at most 24h, found {_shown(value)}")
        return seconds
    raise ValueError(f"{_EXPECTED}, found {_shown(value)}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, used when writing the resolved scenario back."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    return f"{round(seconds, 3):g}s"
