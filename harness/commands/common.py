"""What every command module shares: the one way to fail, and option types."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from harness.errors import BrownoutError, UsageError

if TYPE_CHECKING:
    from harness.report.compare import MetricDelta

__all__ = ["Tolerances", "describe_delta", "fail", "parse_tolerances"]

Tolerances = tuple[float | None, dict[str, float]]


def fail(error: BrownoutError) -> NoReturn:
    """Print ``brownout: <message>`` on stderr and exit with the error's own code."""
    click.echo(f"brownout: {error}", err=True)
    sys.exit(error.exit_code)


def parse_tolerances(values: tuple[str, ...]) -> Tolerances:
    """``--tolerance 0.1`` (every metric) and ``--tolerance latency_p95_ms=0.3`` (one metric)."""
    from harness.analysis.metrics import METRICS

    default: float | None = None
    per_metric: dict[str, float] = {}
    for value in values:
        name, sep, number = value.rpartition("=")
        try:
            tolerance = float(number.rstrip("%")) / (100 if number.endswith("%") else 1)
        except ValueError:
            raise UsageError(
                f"--tolerance {value!r}: expected a fraction (0.1, 10%) or METRIC=FRACTION"
            ) from None
        if tolerance < 0:
            raise UsageError(f"--tolerance {value!r}: a tolerance cannot be negative")
        if not sep:
            default = tolerance
            continue
        if name not in METRICS:
            import difflib

            close = difflib.get_close_matches(name, list(METRICS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"--tolerance {value!r}: unknown metric {name!r}{hint}")
        per_metric[name] = tolerance
    return default, per_metric


def describe_delta(delta: MetricDelta) -> str:
    """``retry_amplification in fault: 1.2 -> 1.9 (+58.3%)``."""

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4g}"

    change = "" if delta.relative is None else f" ({delta.relative:+.1%})"
    return (
        f"{delta.metric} in {delta.phase}: {number(delta.baseline)} -> "
        f"{number(delta.current)}{change}"
    )
