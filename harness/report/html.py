"""report.html: one self-contained page a person who has never seen brownout can read.

The page is rendered from the Summary alone (no raw data), by a jinja2 template shipped as
package data; CSS is inline and charts are data URIs, so the file can be mailed or attached to a
CI run and opened offline. Everything the template shows is prepared here as plain strings, so
the template holds layout, not logic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from harness.analysis.models import PhaseMetrics, SLOResult, Summary
from harness.report.charts import render_charts
from harness.report.compare import Comparison, MetricDelta
from harness.report.explain import render_explain
from harness.report.formatting import format_value
from harness.report.load_workers import read_worker_rows
from harness.report.providers import failover_sentence, provider_rows
from harness.report.run_facts import read_run_facts

__all__ = ["METRIC_LABELS", "render_html", "verdict_sentence"]

REPORT_FILE: Final = "report.html"
PHASE_COLUMNS: Final = ("baseline", "fault", "recovery", "run")
PHASE_TITLES: Final = {
    "baseline": "Baseline",
    "fault": "Fault",
    "recovery": "Recovery",
    "run": "Whole run",
}

#: metric → (label for people, unit, how to format)
METRIC_LABELS: Final[dict[str, tuple[str, str, str]]] = {
    "requests": ("User requests", "", "int"),
    "throughput_rps": ("Throughput", "req/s", "float"),
    "error_rate": ("Error rate", "%", "pct"),
    "latency_p50_ms": ("Latency p50", "ms", "ms"),
    "latency_p95_ms": ("Latency p95", "ms", "ms"),
    "latency_p99_ms": ("Latency p99", "ms", "ms"),
    "provider_attempts": ("Provider attempts", "", "int"),
    "fan_out": ("Fan-out (attempts per request)", "", "ratio"),
    "retry_amplification": ("Retry amplification (vs baseline)", "x", "ratio"),
    "max_queue_depth": ("Max SUT queue depth", "", "count"),
    "max_provider_in_flight": ("Max provider in-flight calls", "", "count"),
    "goodput_rps": ("Goodput", "req/s", "float"),
    "good_request_fraction": ("Good requests", "%", "pct"),
    "wasted_tokens": ("Wasted tokens", "", "int"),
    "recovery_time_s": ("Recovery time", "s", "s"),
}


@dataclass(frozen=True)
class _Row:
    label: str
    cells: list[tuple[str, str]]  # (text, css class)
    hint: str = ""


def render_html(summary: Summary, run_dir: Path, comparison: Comparison | None = None) -> Path:
    env = Environment(
        loader=PackageLoader("harness.report", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html")
    verdict, verdict_class = _verdict(summary)
    page = template.render(
        summary=summary,
        verdict=verdict,
        verdict_class=verdict_class,
        verdict_text=verdict_sentence(summary, comparison),
        comparison=comparison,
        comparison_rows=_comparison_rows(comparison) if comparison is not None else [],
        headlines=_headlines(summary),
        slo_rows=[_slo_row(s) for s in summary.slos],
        phase_titles=[PHASE_TITLES[p] for p in PHASE_COLUMNS],
        phase_spans=[_phase_span(summary, p) for p in PHASE_COLUMNS],
        metric_rows=_metric_rows(summary),
        charts=render_charts(summary),
        provider_table=provider_rows(summary),
        endpoint_table=provider_rows(summary, endpoints=True),
        failover_text=failover_sentence(summary),
        faults=_fault_rows(summary),
        error_rows=_error_rows(summary),
        started=_clock(summary.load_started),
        recovery_text=summary.recovery.reason,
        drain_text=_drain_text(summary),
        explain_html=render_explain(summary),
        facts=read_run_facts(run_dir),
        worker_rows=read_worker_rows(run_dir, summary.load_started),
    )
    path = run_dir / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    return path


def _verdict(summary: Summary) -> tuple[str, str]:
    if not summary.valid:
        return "INVALID RUN", "invalid"
    return ("PASS", "pass") if summary.passed else ("FAIL", "fail")


def verdict_sentence(summary: Summary, comparison: Comparison | None = None) -> str:
    """The headline in words: how many SLOs held, what failed, what regressed."""
    total = len(summary.slos)
    failed = summary.failed_slos
    parts = []
    if not summary.valid:
        parts.append(
            "This run's data cannot be trusted: " + "; ".join(summary.validity_problems) + "."
        )
    if total == 0:
        parts.append("The scenario sets no SLOs, so nothing was gated.")
    elif not failed:
        parts.append(f"All {total} SLO{'s' if total != 1 else ''} held.")
    else:
        held = total - len(failed)
        parts.append(
            f"{len(failed)} of {total} SLOs failed ({held} held): "
            + "; ".join(_failure_words(s) for s in failed)
            + "."
        )
    if comparison is not None:
        regressions = comparison.regressions
        if regressions:
            parts.append(
                f"{len(regressions)} metric{'s' if len(regressions) != 1 else ''} regressed "
                f"against run {comparison.baseline_run_id}: "
                + "; ".join(_delta_words(d) for d in regressions)
                + "."
            )
        else:
            parts.append(f"No metric regressed against run {comparison.baseline_run_id}.")
    if not summary.complete:
        parts.append("The run did not complete (aborted or crashed); phases end where data ends.")
    return " ".join(parts)


def _delta_words(delta: MetricDelta) -> str:
    label, _unit, kind = METRIC_LABELS[delta.metric]
    now = "never" if delta.current is None else format_value(delta.current, kind)
    return f"{label.lower()} in {delta.phase} {format_value(delta.baseline, kind)} → {now}"


def _comparison_rows(comparison: Comparison) -> list[dict[str, str]]:
    rows = []
    for delta in comparison.deltas:
        if delta.verdict not in ("regressed", "better"):
            continue
        label, _unit, kind = METRIC_LABELS[delta.metric]
        rows.append(
            {
                "phase": delta.phase,
                "metric": label,
                "baseline": format_value(delta.baseline, kind),
                "current": "never" if delta.current is None else format_value(delta.current, kind),
                "change": "—" if delta.relative is None else f"{delta.relative * 100:+.0f}%",
                "verdict": delta.verdict,
                "css": "fail" if delta.regressed else "pass",
            }
        )
    return rows


def _failure_words(slo: SLOResult) -> str:
    """'name (measured X, allowed ≤ Y)', or the reason when nothing could be measured."""
    if slo.value is None:
        return f"{slo.name}: {slo.reason}"
    kind = METRIC_LABELS.get(slo.metric, ("", "", "float"))[2]
    return f"{slo.name} (measured {format_value(slo.value, kind)}, allowed {_bounds(slo, kind)})"


def _bounds(slo: SLOResult, kind: str) -> str:
    bounds = []
    if slo.min is not None:
        bounds.append(f"≥ {format_value(slo.min, kind)}")
    if slo.max is not None:
        bounds.append(f"≤ {format_value(slo.max, kind)}")
    return " and ".join(bounds) or "—"


def _headlines(summary: Summary) -> list[str]:
    """A few plain sentences about what the fault did, for the top of the page."""
    lines = []
    base = summary.phases.get("baseline")
    fault = summary.phases.get("fault")
    method = summary.amplification.method if summary.amplification is not None else None
    if fault is not None and fault.retry_amplification is not None:
        attempts = fault.attempts_per_request
        how = (
            "calls attributed to their requests"
            if method == "attributed"
            else "a time-based estimate: calls do not join their requests"
        )
        lines.append(
            f"During the fault each user request caused {fault.retry_amplification:.2f}x as many "
            f"provider calls as at baseline ({how})"
            + (
                f"; attempts per request: mean {attempts.mean:.2f}, p50 {attempts.p50:.0f}, "
                f"p99 {attempts.p99:.0f}, max {attempts.max:.0f}."
                if attempts.mean is not None
                and attempts.p50 is not None
                and attempts.p99 is not None
                and attempts.max is not None
                else "."
            )
        )
    if fault is not None and fault.failover_calls:
        lines.append(
            f"{fault.requests_failed_over or 0:,} user requests failed over to another provider "
            f"during the fault ({fault.failover_calls:,} failover calls, "
            f"{fault.retry_calls or 0:,} retries on the same provider)."
        )
    if base is not None and fault is not None:
        if base.goodput_rps and fault.goodput_rps is not None:
            drop = 1 - fault.goodput_rps / base.goodput_rps
            lines.append(
                f"Goodput went from {base.goodput_rps:.1f}/s at baseline to "
                f"{fault.goodput_rps:.1f}/s during the fault"
                + (f" ({drop:.0%} lower)." if drop > 0 else ".")
            )
        if base.throughput_rps and fault.throughput_rps is not None:
            lines.append(
                f"Throughput went from {base.throughput_rps:.1f} to "
                f"{fault.throughput_rps:.1f} requests/s."
            )
        if base.latency_p95_ms is not None and fault.latency_p95_ms is not None:
            lines.append(
                f"p95 latency went from {base.latency_p95_ms:.0f} ms at baseline to "
                f"{fault.latency_p95_ms:.0f} ms during the fault."
            )
        if fault.error_rate is not None:
            lines.append(f"{fault.error_rate * 100:.1f}% of user requests failed during the fault.")
        if fault.wasted_tokens:
            lines.append(
                f"{fault.wasted_tokens:,} provider tokens were spent on calls that served no user."
            )
    recovery = summary.recovery
    if recovery.recovery_time_s is not None:
        lines.append(
            f"Service returned to baseline {recovery.recovery_time_s:g} s after the last fault "
            "was removed."
        )
    elif recovery.verdict == "metastable":
        lines.append(
            "Service never returned to baseline before the load stopped: the failure outlived "
            "its trigger (metastable)."
        )
    elif summary.phases.get("recovery", PhaseMetrics()).start is not None:
        lines.append(f"Recovery could not be judged: {recovery.reason}.")
    return lines


def _metric_rows(summary: Summary) -> list[_Row]:
    failing = {(s.phase, s.metric) for s in summary.slos if not s.passed}
    passing = {(s.phase, s.metric) for s in summary.slos if s.passed}
    rows = []
    for metric, (label, _unit, kind) in METRIC_LABELS.items():
        cells = []
        for phase in PHASE_COLUMNS:
            metrics = summary.phases.get(phase, PhaseMetrics())
            value = metrics.metric(metric)
            css = (
                "slo-fail"
                if (phase, metric) in failing
                else "slo-pass"
                if (phase, metric) in passing
                else ""
            )
            text = format_value(value, kind)
            if metric == "recovery_time_s" and value is None and phase == "recovery":
                text = "never" if summary.recovery.verdict == "metastable" else "—"
            cells.append((text, css))
        rows.append(_Row(label, cells))
    extra: list[tuple[str, str, Callable[[PhaseMetrics], float | None]]] = [
        ("Latency p95, successes only", "ms", lambda m: m.latency_ok_ms.p95),
        ("Time to first token p95", "ms", lambda m: m.ttft_ms.p95),
        ("Attempts per request mean", "float", lambda m: m.attempts_per_request.mean),
        ("Attempts per request p50", "count", lambda m: m.attempts_per_request.p50),
        ("Attempts per request p99", "count", lambda m: m.attempts_per_request.p99),
        ("Attempts per request max", "count", lambda m: m.attempts_per_request.max),
        ("Retries (same provider)", "int", lambda m: _opt(m.retry_calls)),
        ("Failover calls (another provider)", "int", lambda m: _opt(m.failover_calls)),
        ("Requests that failed over", "int", lambda m: _opt(m.requests_failed_over)),
        (
            "Calls carrying an SDK retry-count header",
            "int",
            lambda m: _opt(m.sdk_retry_calls),
        ),
        ("Calls repeating an earlier call (any layer)", "int", lambda m: _opt(m.repeated_calls)),
        ("Tokens per successful request", "float", lambda m: m.tokens_per_success),
        ("Tokens billed", "int", lambda m: _opt(m.tokens_total)),
        ("Rate deficit (1 - completions / arrivals)", "pct", lambda m: m.rate_deficit),
    ]
    for label, kind, get in extra:
        values = [get(summary.phases.get(p, PhaseMetrics())) for p in PHASE_COLUMNS]
        if all(v is None for v in values):
            continue  # e.g. no streams in this run: no TTFT row at all
        rows.append(_Row(label, [(format_value(v, kind), "") for v in values]))
    return rows


def _opt(value: int | None) -> float | None:
    return None if value is None else float(value)


def _slo_row(slo: SLOResult) -> dict[str, str]:
    kind = METRIC_LABELS.get(slo.metric, ("", "", "float"))[2]
    return {
        "name": slo.name,
        "phase": slo.phase,
        "metric": METRIC_LABELS.get(slo.metric, (slo.metric, "", ""))[0],
        "bound": _bounds(slo, kind),
        "value": format_value(slo.value, kind),
        "result": "pass" if slo.passed else "FAIL",
        "css": "pass" if slo.passed else "fail",
        "reason": slo.reason,
    }


def _phase_span(summary: Summary, phase: str) -> str:
    m = summary.phases.get(phase)
    if m is None or m.start is None or m.end is None or summary.load_started is None:
        return "did not happen"
    t0 = summary.load_started
    return f"{m.start - t0:.1f} s to {m.end - t0:.1f} s"


def _fault_rows(summary: Summary) -> list[dict[str, str]]:
    t0 = summary.load_started
    rows = []

    def offset(t: float | None) -> str:
        if t is None:
            return "—"
        return f"{t - t0:.2f} s" if t0 is not None else _clock(t)

    def delay(actual: float | None, planned: float | None) -> str:
        if actual is None or planned is None:
            return ""
        return f"{(actual - planned) * 1000:+.0f} ms"

    for f in summary.faults:
        rows.append(
            {
                "name": f.name,
                "kind": f.kind or "—",
                "target": f.target or "—",
                "planned": f"{offset(f.planned_applied_at)} → {offset(f.planned_removed_at)}",
                "applied": offset(f.applied_at),
                "applied_delay": delay(f.applied_at, f.planned_applied_at),
                "removed": offset(f.removed_at) if f.removed_at is not None else "never removed",
                "removed_delay": delay(f.removed_at, f.planned_removed_at),
                "params": ", ".join(f"{k}={v}" for k, v in f.params.items()) or "—",
                "requests": f"{f.requests_during:,}",
                "failed": f"{f.failed_during:,}"
                + (
                    f" ({f.failed_during / f.requests_during * 100:.1f}%)"
                    if f.requests_during
                    else ""
                ),
                "goodput": format_value(f.goodput_during_rps, "float"),
                "p95": format_value(f.latency_p95_during_ms, "ms"),
                "calls_hit": f"{f.calls_hit:,}",
                "failed_hit": f"{f.failed_requests_hit:,}",
            }
        )
    return rows


def _error_rows(summary: Summary) -> list[_Row]:
    classes = sorted({c for m in summary.phases.values() for c in m.error_classes})
    rows = []
    for name in classes:
        cells = []
        for phase in PHASE_COLUMNS:
            m = summary.phases.get(phase, PhaseMetrics())
            count = m.error_classes.get(name, 0)
            share = f" ({count / m.requests * 100:.1f}%)" if m.requests and count else ""
            cells.append((f"{count:,}{share}" if m.requests is not None else "—", ""))
        rows.append(_Row(name, cells))
    return rows


def _drain_text(summary: Summary) -> str:
    if summary.drain_time_s is not None:
        return f"After the load stopped, the SUT queue drained in {summary.drain_time_s:.1f} s."
    return ""


def _clock(t: float | None) -> str:
    if t is None:
        return "unknown"
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
