"""The report's per-provider and per-endpoint tables, prepared from the Summary alone.

A phase's totals hide which provider failed and whether the system retried the same provider
or failed over to another; these rows give each provider's (and each endpoint's) calls, failed
calls, retries, failover calls and call latency in every phase, from the ``by_provider`` and
``by_endpoint`` figures of summary.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.analysis.models import ProviderFigures, Summary
from harness.report.formatting import format_value

__all__ = ["ProviderRow", "failover_sentence", "provider_rows"]

_PHASES: Final = ("baseline", "fault", "recovery", "run")
_PHASE_TITLES: Final = {
    "baseline": "baseline",
    "fault": "fault",
    "recovery": "recovery",
    "run": "whole run",
}


@dataclass(frozen=True)
class ProviderRow:
    """One provider (or endpoint) in one phase, as strings for the template."""

    name: str
    phase: str
    calls: str
    failed: str
    retries: str
    failover: str
    p50: str
    p95: str
    tokens: str
    #: "failover" when this row holds failover calls, for the template to highlight
    css: str


def provider_rows(summary: Summary, *, endpoints: bool = False) -> list[ProviderRow]:
    """Rows grouped by provider (or "provider endpoint"), phases in order."""
    names = sorted(
        {
            name
            for metrics in summary.phases.values()
            for name in (metrics.by_endpoint if endpoints else metrics.by_provider)
        }
    )
    rows = []
    for name in names:
        for phase in _PHASES:
            metrics = summary.phases.get(phase)
            if metrics is None:
                continue
            figures = (metrics.by_endpoint if endpoints else metrics.by_provider).get(name)
            if figures is None:
                continue
            rows.append(_row(name, _PHASE_TITLES[phase], figures))
    return rows


def _row(name: str, phase: str, f: ProviderFigures) -> ProviderRow:
    share = f" ({f.failed_calls / f.calls * 100:.1f}%)" if f.calls and f.failed_calls else ""
    return ProviderRow(
        name=name,
        phase=phase,
        calls=f"{f.calls:,}",
        failed=f"{f.failed_calls:,}{share}",
        retries=_count(f.retry_calls),
        failover=_count(f.failover_calls),
        p50=format_value(f.latency_p50_ms, "ms"),
        p95=format_value(f.latency_p95_ms, "ms"),
        tokens=f"{f.tokens:,}",
        css="failover" if f.failover_calls else "",
    )


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def failover_sentence(summary: Summary) -> str:
    """Where failover happened, in words ("" when it did not): which provider took the calls
    in which phase, and how many requests failed over."""
    parts = []
    for phase in ("baseline", "fault", "recovery"):
        metrics = summary.phases.get(phase)
        if metrics is None or not metrics.failover_calls:
            continue
        takers = ", ".join(
            f"{name} took {f.failover_calls:,}"
            for name, f in sorted(metrics.by_provider.items())
            if f.failover_calls
        )
        parts.append(
            f"in the {phase} phase {metrics.requests_failed_over or 0:,} user requests failed "
            f"over ({metrics.failover_calls:,} failover calls: {takers})"
        )
    if not parts:
        return ""
    return "Failover happened: " + "; ".join(parts) + "."
