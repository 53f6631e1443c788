"""Durations as scenario authors write them: ``300ms``, ``20s``, ``1.5m``, ``1h`` or a bare number
of seconds. Kept tiny and separate because both the model and error messages use it."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: object) -> float:
    """Return seconds; raise ValueError with the accepted forms when ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 300ms, 20s or 1m, found {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration >= 0, found {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS_S[match.group(2) or "s"]
    raise ValueError(f"expected a duration such as 300ms, 20s or 1m, found {value!r}")


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, used when writing the resolved scenario back."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    return f"{round(seconds, 3):g}s"
