"""summary.md: a compact Markdown verdict and table, sized for a pull-request comment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from harness.analysis.models import PhaseMetrics, Summary
from harness.report.compare import Comparison
from harness.report.formatting import format_value
from harness.report.html import METRIC_LABELS, verdict_sentence

__all__ = ["MARKDOWN_FILE", "render_markdown", "summary_markdown"]

MARKDOWN_FILE: Final = "summary.md"

#: The metrics a PR reader needs; the full set is in report.html.
_TABLE_METRICS: Final = (
    "requests",
    "error_rate",
    "latency_p95_ms",
    "retry_amplification",
    "goodput_rps",
    "max_queue_depth",
    "wasted_tokens",
)
_PHASES: Final = ("baseline", "fault", "recovery", "run")


def summary_markdown(summary: Summary, comparison: Comparison | None = None) -> str:
    if not summary.valid:
        word = "⚠️ INVALID"
    elif summary.passed:
        word = "✅ PASS"
    else:
        word = "❌ FAIL"
    lines = [
        f"### brownout {word}: `{_cell(summary.scenario)}`",
        "",
        f"Run `{_cell(summary.run_id)}`. {_cell(verdict_sentence(summary, comparison))}",
        "",
    ]
    if summary.slos:
        lines += ["| SLO | phase | measured | bound | result |", "|---|---|--:|--:|---|"]
        for slo in summary.slos:
            kind = METRIC_LABELS.get(slo.metric, ("", "", "float"))[2]
            bounds = []
            if slo.min is not None:
                bounds.append(f"≥ {format_value(slo.min, kind)}")
            if slo.max is not None:
                bounds.append(f"≤ {format_value(slo.max, kind)}")
            result = "✅" if slo.passed else f"❌ {_cell(slo.reason)}"
            lines.append(
                f"| {_cell(slo.name)} | {slo.phase} | {format_value(slo.value, kind)} | "
                f"{' and '.join(bounds) or '—'} | {result} |"
            )
        lines.append("")
    lines += ["| metric | baseline | fault | recovery | run |", "|---|--:|--:|--:|--:|"]
    for metric in _TABLE_METRICS:
        label, _unit, kind = METRIC_LABELS[metric]
        cells = [
            format_value(summary.phases.get(p, PhaseMetrics()).metric(metric), kind)
            for p in _PHASES
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    recovery = summary.recovery
    if recovery.recovery_time_s is not None:
        lines += ["", f"Recovered {recovery.recovery_time_s:g} s after the last fault."]
    elif recovery.metastable:
        lines += ["", "**Metastable**: never recovered to baseline before the load stopped."]
    return "\n".join(lines) + "\n"


def render_markdown(summary: Summary, run_dir: Path, comparison: Comparison | None = None) -> Path:
    path = run_dir / MARKDOWN_FILE
    path.write_text(summary_markdown(summary, comparison), encoding="utf-8")
    return path


_MARKDOWN_SPECIAL: Final = re.compile(r"([\\`*_\[\]|])")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def _cell(text: str) -> str:
    """Scenario strings as inert text: table cells cannot hold pipes or newlines, and names or
    reasons from a scenario must not become HTML, links or emphasis in a PR comment."""
    text = _CONTROL.sub(" ", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
