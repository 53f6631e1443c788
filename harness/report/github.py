"""GitHub Actions integration, done by brownout itself so a workflow needs no glue scripts.

When ``GITHUB_STEP_SUMMARY`` is set, the run's summary.md (and the baseline comparison, if
any) is appended to the job summary. When ``GITHUB_ACTIONS`` is ``true``, each failed SLO and
each regression is printed as an ``::error`` workflow command pointing at the SLO's line in the
scenario file, so it shows as an annotation on the pull request.
Reference: docs.github.com, "Workflow commands for GitHub Actions".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from harness.analysis.models import Summary
from harness.report.compare import Comparison
from harness.report.comparison import comparison_markdown
from harness.report.markdown import summary_markdown
from harness.scenario.source import parse_yaml

__all__ = ["error_annotations", "publish_to_github"]


def publish_to_github(
    summary: Summary,
    run_dir: Path,
    comparison: Comparison | None = None,
    *,
    scenario_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Append to the step summary and return the annotation lines to print (both only when the
    environment says this is GitHub Actions)."""
    env = os.environ if environ is None else environ
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        text = summary_markdown(summary, comparison)
        if comparison is not None:
            text += "\n" + comparison_markdown(comparison)
        text += f"\nRun directory: `{run_dir}`\n\n"
        with Path(summary_path).open("a", encoding="utf-8") as out:
            out.write(text)
    if env.get("GITHUB_ACTIONS") != "true":
        return []
    return error_annotations(summary, comparison, scenario_file=scenario_file)


def error_annotations(
    summary: Summary, comparison: Comparison | None = None, *, scenario_file: Path | None = None
) -> list[str]:
    """``::error file=…,line=…,title=…::message`` for each failed SLO and regression."""
    lines: list[str] = []
    positions = _slo_lines(scenario_file)
    for index, slo in enumerate(summary.slos):
        if slo.passed:
            continue
        where = ""
        if scenario_file is not None:
            where = f"file={_property(str(scenario_file))},"
            if index in positions:
                where += f"line={positions[index]},"
        title = _property(f"SLO failed: {slo.name}")
        lines.append(f"::error {where}title={title}::{_data(slo.reason)}")
    if comparison is not None:
        for delta in comparison.regressions:
            title = _property(f"regression: {delta.metric} in {delta.phase}")
            message = (
                f"{delta.metric} in {delta.phase}: {delta.baseline} -> {delta.current} "
                f"against run {comparison.baseline_run_id}"
            )
            lines.append(f"::error title={title}::{_data(message)}")
    return lines


def _slo_lines(scenario_file: Path | None) -> dict[int, int]:
    """The line of each ``slos[i]`` entry in the scenario file (1-based), when readable."""
    if scenario_file is None:
        return {}
    try:
        located = parse_yaml(scenario_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    slos = located.data.get("slos") if isinstance(located.data, dict) else None
    if not isinstance(slos, list):
        return {}
    return {i: located.position_of(("slos", i)).line for i in range(len(slos))}


def _data(text: str) -> str:
    # Escaping as GitHub's toolkit does (core.issueCommand), so a % or newline survives.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
