"""A comparison of two runs as people read it: Markdown (terminal, PR comment, CI summary) and a
self-contained HTML page, for ``brownout compare RUN_A RUN_B``.

Only the metrics that moved in a direction that matters (better or regressed) and the
regressions' verdict are shown first; the full table of deltas follows, phase by phase.
"""

from __future__ import annotations

import html
from typing import Final

from harness.report.compare import Comparison, MetricDelta
from harness.report.formatting import format_value
from harness.report.html import METRIC_LABELS

__all__ = ["comparison_html", "comparison_markdown"]

_MARK: Final = {"regressed": "❌ regressed", "better": "✅ better", "same": "same", "n/a": "n/a"}


def _kind(metric: str) -> str:
    return METRIC_LABELS.get(metric, (metric, "", "float"))[2]


def _relative(delta: MetricDelta) -> str:
    return "—" if delta.relative is None else f"{delta.relative:+.1%}"


def _rows(comparison: Comparison) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for d in comparison.deltas:
        if d.baseline is None and d.current is None:
            continue
        label = METRIC_LABELS.get(d.metric, (d.metric, "", "float"))[0]
        rows.append(
            (
                d.phase,
                label,
                format_value(d.baseline, _kind(d.metric)),
                format_value(d.current, _kind(d.metric)),
                _relative(d),
                _MARK[d.verdict],
            )
        )
    return rows


def verdict_line(comparison: Comparison) -> str:
    regressions = comparison.regressions
    if not regressions:
        return (
            f"No metric regressed against `{comparison.baseline_run_id}` "
            f"(tolerance {comparison.tolerance:.0%})."
        )
    names = ", ".join(f"{d.metric} in {d.phase}" for d in regressions)
    return (
        f"{len(regressions)} metric(s) regressed against `{comparison.baseline_run_id}` "
        f"(tolerance {comparison.tolerance:.0%}): {names}."
    )


def comparison_markdown(comparison: Comparison) -> str:
    word = "❌ REGRESSED" if comparison.regressions else "✅ NO REGRESSION"
    lines = [
        f"### brownout compare {word}: `{comparison.current_run_id}` vs "
        f"`{comparison.baseline_run_id}`",
        "",
        verdict_line(comparison),
        "",
        "| phase | metric | baseline run | this run | change | verdict |",
        "|---|---|--:|--:|--:|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(comparison)]
    return "\n".join(lines) + "\n"


def comparison_html(comparison: Comparison) -> str:
    """A standalone page (no external assets), in the report's plain style."""
    esc = html.escape
    body_rows = "\n".join(
        "<tr class='{cls}'>{cells}</tr>".format(
            cls=row[5].split(" ")[-1],
            cells="".join(f"<td>{esc(cell)}</td>" for cell in row),
        )
        for row in _rows(comparison)
    )
    title = f"brownout compare: {comparison.current_run_id} vs {comparison.baseline_run_id}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ padding: .25rem .6rem; border-bottom: 1px solid #ddd; }}
td:nth-child(n+3) {{ text-align: right; }} tr.regressed {{ background: #fde2e1; }}
tr.better {{ background: #e3f6e5; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{esc(verdict_line(comparison).replace("`", ""))}</p>
<table><thead><tr><th>phase</th><th>metric</th><th>baseline run</th><th>this run</th>
<th>change</th><th>verdict</th></tr></thead>
<tbody>
{body_rows}
</tbody></table>
</body></html>
"""
