"""Regression deltas against a stored baseline run."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis import Summary
from harness.errors import UsageError
from harness.report import compare_summaries, render_report


def worse_copy(summary: Summary) -> Summary:
    """The same run with the fault phase 50% more amplified and recovery lost."""
    current = summary.model_copy(deep=True)
    current.run_id = "current"
    fault = current.phases["fault"]
    assert fault.retry_amplification is not None and fault.latency_p95_ms is not None
    fault.retry_amplification *= 1.5
    fault.latency_p95_ms += 3.0  # below the 5 ms floor: noise, not a regression
    baseline = current.phases["baseline"]
    assert baseline.goodput_rps is not None
    baseline.goodput_rps *= 1.5  # better
    current.phases["recovery"].recovery_time_s = None
    return current


def test_regressions_improvements_and_noise(demo_run: tuple[Path, Summary]) -> None:
    _, stored = demo_run
    comparison = compare_summaries(worse_copy(stored), stored)

    verdicts = {(d.phase, d.metric): d.verdict for d in comparison.deltas}
    assert verdicts[("fault", "retry_amplification")] == "regressed"
    assert verdicts[("recovery", "recovery_time_s")] == "regressed"
    assert verdicts[("fault", "latency_p95_ms")] == "same"
    assert verdicts[("baseline", "goodput_rps")] == "better"
    assert verdicts[("fault", "requests")] == "same"  # neither better nor worse
    assert {(d.phase, d.metric) for d in comparison.regressions} == {
        ("fault", "retry_amplification"),
        ("recovery", "recovery_time_s"),
    }
    delta = next(d for d in comparison.regressions if d.metric == "retry_amplification")
    assert delta.relative == pytest.approx(0.5)
    assert compare_summaries(stored, stored).regressions == []


def test_report_with_a_baseline_run(demo_run: tuple[Path, Summary], tmp_path: Path) -> None:
    stored_dir, stored = demo_run
    run_dir = tmp_path / "current"
    run_dir.mkdir()
    shutil.copy(stored_dir / "summary.json", tmp_path / "baseline-summary.json")

    html, junit, markdown = render_report(run_dir, worse_copy(stored), baseline=stored_dir)

    page = html.read_text()
    assert 'id="comparison-table"' in page
    assert "2 metrics regressed against run 20251126T120000Z-demo" in page
    recovered = stored.recovery.recovery_time_s
    assert recovered is not None
    assert f"recovery time in recovery {recovered:.1f} s → never" in page
    assert "2 metrics regressed" in markdown.read_text()
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    case = suite.find("testcase[@name='no regression against 20251126T120000Z-demo']")
    assert case is not None and case.find("failure") is not None

    # a summary.json path works too, and the same run against itself has no regression
    render_report(stored_dir, stored, baseline=tmp_path / "baseline-summary.json")
    assert "No metric regressed" in (stored_dir / "report.html").read_text()


def test_missing_baseline_is_a_usage_error(demo_run: tuple[Path, Summary], tmp_path: Path) -> None:
    run_dir, summary = demo_run
    with pytest.raises(UsageError, match="no baseline summary"):
        render_report(run_dir, summary, baseline=tmp_path)
