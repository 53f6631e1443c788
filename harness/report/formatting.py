"""How a metric value is spelled in the HTML report and in summary.md: one place, so both
views always show the same number the same way."""

from __future__ import annotations

__all__ = ["format_value"]


def format_value(value: float | None, kind: str) -> str:
    """``kind``: int, pct, ms, s, count or ratio; None (not measurable) is an em dash."""
    if value is None:
        return "—"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:,.0f} ms"
    if kind == "s":
        return f"{value:,.1f} s"
    if kind == "count" and float(value).is_integer():
        return f"{round(value):,}"
    return f"{value:,.2f}"
