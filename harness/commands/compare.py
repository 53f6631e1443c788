"""``brownout compare RUN_A RUN_B``: how RUN_B moved against RUN_A, phase by phase and metric by
metric, with a regression verdict (exit 1 when a metric regressed beyond its tolerance)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.commands.common import describe_delta, fail, parse_tolerances
from harness.errors import BrownoutError

__all__ = ["compare"]


@click.command()
@click.argument("baseline_run", type=click.Path(exists=True, path_type=Path))
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--tolerance",
    "tolerance_values",
    multiple=True,
    metavar="FRACTION|METRIC=FRACTION",
    help="Relative change allowed before a metric counts as regressed: 0.1 (the default) for "
    "all, latency_p95_ms=0.3 for one metric. Repeatable.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the comparison as a standalone HTML page to this file.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Markdown to this file instead of printing it.",
)
def compare(
    baseline_run: Path,
    run: Path,
    tolerance_values: tuple[str, ...],
    html_path: Path | None,
    markdown_path: Path | None,
) -> None:
    """Compare RUN (a run directory or its summary.json) against BASELINE_RUN.

    Prints a Markdown table of every metric per phase (baseline run, this run, change,
    verdict). Exits 0 when nothing regressed, 1 when a metric regressed, 2 for bad arguments.
    """
    from harness.report.compare import DEFAULT_TOLERANCE, compare_summaries
    from harness.report.comparison import comparison_html, comparison_markdown
    from harness.report.render import read_baseline

    try:
        default, per_metric = parse_tolerances(tolerance_values)
        comparison = compare_summaries(
            read_baseline(run),
            read_baseline(baseline_run),
            tolerance=DEFAULT_TOLERANCE if default is None else default,
            tolerances=per_metric,
        )
    except BrownoutError as exc:
        fail(exc)
    text = comparison_markdown(comparison)
    if markdown_path is not None:
        markdown_path.write_text(text, encoding="utf-8")
        click.echo(f"brownout: comparison written to {markdown_path}", err=True)
    else:
        click.echo(text, nl=False)
    if html_path is not None:
        html_path.write_text(comparison_html(comparison), encoding="utf-8")
        click.echo(f"brownout: comparison page written to {html_path}", err=True)
    for delta in comparison.regressions:
        click.echo(f"  [REGRESSED] {describe_delta(delta)}", err=True)
    verdict = "REGRESSED" if comparison.regressions else "no regression"
    click.echo(f"brownout: {verdict} ({run} against {baseline_run})", err=True)
    sys.exit(1 if comparison.regressions else 0)
