"""``render_report``: write every report file of a run directory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from harness.analysis import SUMMARY_FILE, Summary, analyze_run
from harness.errors import UsageError
from harness.report.compare import DEFAULT_TOLERANCE, compare_summaries
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown

__all__ = ["read_baseline", "render_report"]


def render_report(
    run_dir: Path,
    summary: Summary | None = None,
    *,
    baseline: Path | Summary | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    tolerances: Mapping[str, float] | None = None,
) -> list[Path]:
    """Write report.html, junit.xml and summary.md into ``run_dir``; return their paths.

    Without ``summary``, reads ``run_dir/summary.json``, or analyses the run when there is
    none yet. ``baseline`` (a run directory, a summary.json, or a Summary) adds regression
    deltas against that run to all three files. Raises ``UsageError`` when ``run_dir`` is not
    a directory or a summary.json is missing or unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run directory")
    if summary is None:
        path = run_dir / SUMMARY_FILE
        summary = analyze_run(run_dir) if not path.is_file() else _read_summary(path)
    comparison = None
    if baseline is not None:
        if not isinstance(baseline, Summary):
            baseline = _read_summary(_summary_path(Path(baseline)))
        comparison = compare_summaries(
            summary, baseline, tolerance=tolerance, tolerances=tolerances
        )
    return [
        render_html(summary, run_dir, comparison),
        render_junit(summary, run_dir, comparison),
        render_markdown(summary, run_dir, comparison),
    ]


def read_baseline(path: Path) -> Summary:
    """The summary of a stored run (its directory or its summary.json); ``UsageError`` when
    there is none, so a bad ``--baseline`` fails before a run starts, not after."""
    return _read_summary(_summary_path(Path(path)))


def _summary_path(path: Path) -> Path:
    candidate = path / SUMMARY_FILE if path.is_dir() else path
    if not candidate.is_file():
        raise UsageError(
            f"no baseline summary at {candidate}; pass a run directory analysed by brownout "
            "or its summary.json"
        )
    return candidate


def _read_summary(path: Path) -> Summary:
    try:
        return Summary.read(path)
    except (ValidationError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a brownout summary ({_first_line(exc)}); delete it to "
            "re-analyse the run"
        ) from exc


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
