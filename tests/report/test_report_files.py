"""report.html, junit.xml and summary.md rendered from synthetic runs."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.analysis import Summary, analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.errors import UsageError
from harness.report import render_report
from harness.scenario import SLO


def test_render_report_writes_three_files(demo_run: tuple[Path, Summary]) -> None:
    run_dir, summary = demo_run
    paths = render_report(run_dir, summary)
    assert [p.name for p in paths] == ["report.html", "junit.xml", "summary.md"]
    assert all(p.parent == run_dir and p.stat().st_size > 0 for p in paths)


def test_html_is_self_contained_and_says_what_failed(demo_run: tuple[Path, Summary]) -> None:
    run_dir, summary = demo_run
    html = render_report(run_dir, summary)[0].read_text()

    # No external resource of any kind: styles inline, charts as data URIs.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 3
    assert all(src.startswith("data:image/svg+xml;base64,") for src in images)

    assert 'data-verdict="FAIL"' in html
    assert "1 of 4 SLOs failed" in html
    amp = summary.phases["fault"].retry_amplification
    assert amp is not None and 2.6 < amp < 2.9
    assert f"retry amplification in fault (measured {amp:.2f}, allowed ≤ 1.50)" in html
    assert "recovers within 15 s" in html
    for title in ("Baseline", "Fault", "Recovery", "Whole run"):
        assert f">{title}<small>" in html
    assert "provider-errors" in html and "slow-network" in html
    assert "+20 ms" in html  # applied 20 ms after planned
    assert "http_503" in html
    assert html.count("How to read this") >= 6


def test_junit_has_one_case_per_slo_and_phase(demo_run: tuple[Path, Summary]) -> None:
    run_dir, summary = demo_run
    junit = render_report(run_dir, summary)[1]

    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "brownout.demo-provider-brownout"
    assert (suite.get("tests"), suite.get("failures")) == ("5", "1")
    cases = [(c.get("classname"), c.get("name"), c.find("failure")) for c in suite.iter("testcase")]
    assert [(c, n) for c, n, _ in cases] == [
        ("brownout.demo-provider-brownout.fault", "retry amplification in fault"),
        ("brownout.demo-provider-brownout.baseline", "baseline p95 latency"),
        ("brownout.demo-provider-brownout.fault", "error rate in fault"),
        ("brownout.demo-provider-brownout.recovery", "recovers within 15 s"),
        ("brownout.demo-provider-brownout.run", "run is valid"),
    ]
    failure = cases[0][2]
    assert failure is not None
    amp = summary.phases["fault"].retry_amplification
    assert (
        failure.get("message") == f"retry_amplification in fault = {amp:.4g}, above the maximum 1.5"
    )
    assert [f is None for _, _, f in cases] == [False, True, True, True, True]


def test_markdown_summary(demo_run: tuple[Path, Summary]) -> None:
    run_dir, summary = demo_run
    text = render_report(run_dir, summary)[2].read_text()
    assert text.startswith("### brownout ❌ FAIL: `demo-provider-brownout`")
    assert "| metric | baseline | fault | recovery | run |" in text
    amp = {p: summary.phases[p].retry_amplification for p in ("fault", "recovery", "run")}
    row = f"| 1.00 | {amp['fault']:.2f} | {amp['recovery']:.2f} | {amp['run']:.2f} |"
    assert f"| Retry amplification (vs baseline) {row}" in text
    assert f"| retry amplification in fault | fault | {amp['fault']:.2f} | ≤ 1.50 | ❌" in text


def test_render_report_reads_summary_json_or_analyses(tmp_path: Path) -> None:
    with RunDirWriter(tmp_path / "run") as w:
        w.event(0.0, "load_started", users=1)
        w.request(1.0)
        w.request(2.0, ok=False, status=429)
        w.event(3.0, "load_stopped", users=1)
    run_dir = w.run_dir

    render_report(run_dir)  # no summary.json yet: analyses the run and writes one
    assert (run_dir / "summary.json").is_file()
    html = (run_dir / "report.html").read_text()
    assert 'data-verdict="PASS"' in html
    assert "The scenario sets no SLOs" in html

    summary = analyze_run(run_dir, [SLO(name="no | errors", metric="error_rate", max=0.0)])
    render_report(run_dir)  # reads the summary.json written just above
    assert 'data-verdict="FAIL"' in (run_dir / "report.html").read_text()
    assert "no \\| errors" in (run_dir / "summary.md").read_text()
    assert summary.passed is False


def test_invalid_run_is_never_green(tmp_path: Path) -> None:
    run_dir = tmp_path / "empty"
    run_dir.mkdir()
    render_report(run_dir)
    assert 'data-verdict="INVALID RUN"' in (run_dir / "report.html").read_text()
    assert "No time series" in (run_dir / "report.html").read_text()
    suite = ET.parse(run_dir / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert (run_dir / "summary.md").read_text().startswith("### brownout ⚠️ INVALID")


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a run directory"):
        render_report(tmp_path / "missing")
    (tmp_path / "summary.json").write_text('{"run_id": 3}')
    with pytest.raises(UsageError, match="is not a brownout summary"):
        render_report(tmp_path)


def test_importing_report_does_not_touch_pyplot() -> None:
    code = (
        "import sys, harness.report, harness.analysis, matplotlib\n"
        "backend = matplotlib.rcParams._get_backend_or_none()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert 'locust' not in sys.modules and 'gevent' not in sys.modules\n"
        "print(backend)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"  # no backend was chosen globally


def test_names_from_the_scenario_are_escaped(tmp_path: Path) -> None:
    with RunDirWriter(tmp_path / "run") as w:
        w.event(0.0, "load_started", users=1)
        w.fault("<script>alert(1)</script>", 1.0, 2.0)
        w.request(0.5)
        w.event(3.0, "load_stopped", users=1)
    summary = analyze_run(w.run_dir, [SLO(name="<b>bold</b>", metric="requests", max=0)])
    html = render_report(w.run_dir, summary)[0].read_text()
    assert "<script>alert" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
