"""``render_report``: write every report file of a run directory."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from harness.analysis import SUMMARY_FILE, Summary, analyze_run
from harness.errors import UsageError
from harness.report.html import render_html
from harness.report.junit import render_junit
from harness.report.markdown import render_markdown

__all__ = ["render_report"]


def render_report(run_dir: Path, summary: Summary | None = None) -> list[Path]:
    """Write report.html, junit.xml and summary.md into ``run_dir``; return their paths.

    Without ``summary``, reads ``run_dir/summary.json``, or analyses the run when there is
    none yet. Raises ``UsageError`` when ``run_dir`` is not a directory or its summary.json is
    unreadable.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run directory")
    if summary is None:
        path = run_dir / SUMMARY_FILE
        if not path.is_file():
            summary = analyze_run(run_dir)
        else:
            try:
                summary = Summary.read(path)
            except (ValidationError, ValueError) as exc:
                raise UsageError(
                    f"{path} is not a brownout summary ({_first_line(exc)}); delete it to "
                    "re-analyse the run"
                ) from exc
    return [
        render_html(summary, run_dir),
        render_junit(summary, run_dir),
        render_markdown(summary, run_dir),
    ]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
