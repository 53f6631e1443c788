"""The report's explaining sections: client-resilience verdicts, cost (table and chart), what
the bad requests met, failed SLOs linked to example traces, and worst-request waterfalls.

Rendered from the Summary alone into one HTML fragment (its own template, ``explain.html``) that
``html.render_html`` places in the page, so these sections grow without touching the page's
headline, charts or phase tables. Waterfalls are inline SVG, so the report stays one file.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.analysis.models import Summary
from harness.analysis.verdict_models import Verdict, WorstRequest

__all__ = ["render_explain", "verdict_cells"]

PHASES: Final = ("baseline", "fault", "recovery", "run")
_WIDTH: Final = 760
_LABEL_W: Final = 230
_ROW_H: Final = 18
_STATUS_TEXT: Final = {"pass": "pass", "fail": "FAIL", "not_judged": "—"}
_STATUS_CSS: Final = {"pass": "pass", "fail": "fail", "not_judged": "muted"}


@dataclass(frozen=True)
class _Bar:
    x: float
    y: int
    w: float
    fill: str
    label: str
    tip: str


def render_explain(summary: Summary) -> Markup:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    phases = [p for p in PHASES if p in summary.resilience]
    linked = {t.request_id for t in summary.worst_requests}
    html = env.get_template("explain.html").render(
        resilience_phases=phases,
        resilience_rows=_resilience_rows(summary, phases, linked),
        cost_phases=[p for p in PHASES if p in summary.phases],
        cost_rows=_cost_rows(summary),
        unpriced=", ".join(f"{m} ({n} calls)" for m, n in summary.cost.unpriced_models.items()),
        cost_chart=_cost_chart(summary),
        cost_window=f"{summary.cost.window_s:g} s",
        impact_rows=[
            {
                "phase": line.phase,
                "path": line.path,
                "requests": line.requests,
                "share": f"{line.share:.0%}",
                "examples": line.examples,
            }
            for line in summary.impact
        ],
        slo_examples=_slo_examples(summary),
        traces=[_waterfall(t) for t in summary.worst_requests],
    )
    return Markup(html)


def verdict_cells(verdict: Verdict) -> dict[str, str]:
    """A verdict's status word and value as the report and the Markdown show them."""
    value = "" if verdict.value is None else _number(verdict.value)
    return {"status": _STATUS_TEXT[verdict.status], "value": value}


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _resilience_rows(
    summary: Summary, phases: Sequence[str], linked: set[str]
) -> list[dict[str, Any]]:
    order: list[str] = []
    by_key: dict[str, dict[str, Verdict]] = {}
    for phase in phases:
        for verdict in summary.resilience[phase]:
            if verdict.name not in by_key:
                order.append(verdict.name)
                by_key[verdict.name] = {}
            by_key[verdict.name][phase] = verdict
    rows = []
    for name in order:
        cells = []
        first = next(iter(by_key[name].values()))
        for phase in phases:
            found = by_key[name].get(phase)
            if found is None:
                cells.append(
                    {"css": "muted", "status": "—", "value": "", "summary": "", "examples": []}
                )
                continue
            cells.append(
                {
                    "css": _STATUS_CSS[found.status],
                    **verdict_cells(found),
                    "summary": found.summary,
                    "examples": found.examples,
                }
            )
        rows.append({"title": first.title, "metric": first.metric or "", "cells": cells})
    del linked
    return rows


def _cost_rows(summary: Summary) -> list[dict[str, Any]]:
    def money(value: float | None) -> str:
        if value is None:
            return "—"
        return f"{value:.4f}" if value >= 0.01 else f"{value:.6f}"

    rows = []
    for label, metric in (
        ("cost_usd", "cost_usd"),
        ("per successful request", "cost_per_success_usd"),
        ("wasted", "wasted_cost_usd"),
    ):
        cells = []
        for phase in PHASES:
            metrics = summary.phases.get(phase)
            cells.append(money(None if metrics is None else metrics.metric(metric)))
        rows.append({"label": label, "cells": cells})
    return rows


def _cost_chart(summary: Summary) -> str:
    cost = summary.cost
    if not cost.t or not any(cost.cost_usd):
        return ""
    fig = Figure(figsize=(9.0, 2.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    half = cost.window_s / 2
    x = [t + half for t in cost.t]
    ax.plot(x, cost.cost_usd, color="#0b3c6b", lw=1.6, label="cost")
    ax.fill_between(x, cost.wasted_usd, color="#d62728", alpha=0.35, lw=0, label="wasted")
    t0 = cost.t0 or 0.0
    for fault in summary.faults:
        end = fault.removed_at if fault.removed_at is not None else t0 + x[-1] + half
        ax.axvspan(fault.applied_at - t0, end - t0, color="#f4a3a3", alpha=0.25, lw=0)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel(f"USD per {cost.window_s:g} s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg")
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _slo_examples(summary: Summary) -> list[dict[str, Any]]:
    out = []
    for slo in summary.failed_slos:
        examples: list[str] = []
        for verdict in summary.resilience.get(slo.phase, []):
            if verdict.metric == slo.metric:
                examples = list(verdict.examples)
        if not examples:
            examples = [
                t.request_id
                for t in summary.worst_requests
                if slo.phase == "run" or t.phase == slo.phase
            ]
        if not examples:
            examples = [
                rid for line in summary.impact if line.phase == slo.phase for rid in line.examples
            ][:3]
        out.append({"name": slo.name, "examples": examples[:3]})
    return out


def _waterfall(trace: WorstRequest) -> dict[str, Any]:
    start = trace.t_start
    ends = [trace.t_end or start]
    ends += [c.t_end or c.t for c in trace.calls]
    ends += [s.t_end for s in trace.spans]
    starts = [start, *(c.t for c in trace.calls), *(s.t for s in trace.spans)]
    t0 = min(starts)
    span = max(max(ends) - t0, 1e-3)
    scale = (_WIDTH - _LABEL_W - 10) / span

    def bar(y: int, a: float, b: float, fill: str, label: str, tip: str) -> _Bar:
        return _Bar(
            x=round(_LABEL_W + (a - t0) * scale, 1),
            y=y,
            w=round(max((b - a) * scale, 1.5), 1),
            fill=fill,
            label=label,
            tip=tip,
        )

    bars: list[_Bar] = []
    y = 4
    status = trace.status if trace.status is not None else "?"
    user_fill = "#2ca02c" if trace.error_class is None else "#d62728"
    latency = f"{trace.latency_ms:.0f} ms" if trace.latency_ms is not None else "?"
    bars.append(
        bar(
            y,
            start,
            trace.t_end or start,
            user_fill,
            f"user request → {status}",
            f"{latency}, status {status}, {trace.error_class or 'ok'}",
        )
    )
    for span_ in trace.spans:
        y += _ROW_H
        bars.append(
            bar(
                y,
                span_.t,
                span_.t_end,
                "#9e9e9e",
                f"span {span_.name}"[:34],
                f"{span_.service or ''} {span_.name}: {(span_.t_end - span_.t) * 1000:.0f} ms",
            )
        )
    for index, call in enumerate(trace.calls, start=1):
        y += _ROW_H
        failed = call.status is None or call.status == 0 or call.status >= 400
        fill = "#d62728" if failed else "#ff9f1c" if call.stream_completed is False else "#2ca02c"
        met = [p for p in (call.fault, ",".join(call.toxics)) if p]
        label = f"call {index} {call.status} {call.model or ''}"[:34]
        tip = (
            f"{call.name} {call.endpoint} {call.model}: status {call.status}, "
            f"{((call.t_end or call.t) - call.t) * 1000:.0f} ms, tokens "
            f"{call.tokens_in}/{call.tokens_out}, retry count {call.retry_count}"
            + (f", retry-after {call.retry_after_s:g} s" if call.retry_after_s is not None else "")
            + (f", met {'; '.join(met)}" if met else "")
        )
        bars.append(bar(y, call.t, call.t_end or call.t, fill, label, tip))
    headline = f"{latency}, status {status}"
    if trace.error_class:
        headline += f" ({trace.error_class})"
    headline += f", {len(trace.calls)} provider call(s)"
    if trace.phase:
        headline += f", {trace.phase} phase"
    bodies = [("user request", trace.request_body, trace.response_body)]
    bodies += [
        (f"call {n}", c.request_body, c.response_body) for n, c in enumerate(trace.calls, start=1)
    ]
    return {
        "request_id": trace.request_id,
        "why": trace.why,
        "headline": headline,
        "bars": bars,
        # Recorded only with record_bodies: true; folded away until the reader opens them.
        "bodies": [b for b in bodies if b[1] is not None or b[2] is not None],
        "width": _WIDTH,
        "height": y + _ROW_H + 4,
    }
