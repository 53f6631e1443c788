"""junit.xml is well-formed for any string a run can carry; summary.md never carries raw HTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.analysis import Summary, analyze_run
from harness.analysis.synthetic import write_demo_run
from harness.report.junit import render_junit
from harness.report.markdown import summary_markdown

HOSTILE = '<script>alert(1)</script>\x00\x07\x1b[31m "quoted" & ]]> \ud800 [x](javascript:y) |'


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> Summary:
    run_dir = write_demo_run(tmp_path_factory.mktemp("hygiene") / "20251126T120000Z-demo")
    return analyze_run(run_dir)


def _hostile(summary: Summary, text: str) -> Summary:
    slos = [
        slo.model_copy(update={"name": text + slo.name, "reason": text, "passed": False})
        for slo in summary.slos
    ]
    return summary.model_copy(update={"slos": slos, "validity_problems": [text], "valid": False})


def test_junit_parses_with_control_characters(summary: Summary, tmp_path: Path) -> None:
    path = render_junit(_hostile(summary, HOSTILE), tmp_path)
    root = ET.parse(path).getroot()
    names = [case.get("name") or "" for case in root.iter("testcase")]
    assert any("<script>alert(1)</script>" in name for name in names)
    assert any("\\x00" in name for name in names)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=40))
def test_junit_is_well_formed_for_any_text(summary: Summary, tmp_path: Path, text: str) -> None:
    ET.parse(render_junit(_hostile(summary, text), tmp_path))


def test_summary_markdown_escapes_html(summary: Summary) -> None:
    markdown = summary_markdown(_hostile(summary, HOSTILE))
    assert "<script" not in markdown
    assert "&lt;script&gt;" in markdown
    assert "[x](javascript:" not in markdown  # brackets escaped: no link
    assert "\ud800" not in markdown
    assert "\x00" not in markdown and "\x1b" not in markdown
