"""The report's header states how the run was made: description, time scale, SUT, host load and
whether non-loopback targets were allowed (read from run.json and the resolved scenario.yaml)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.analysis import analyze_run
from harness.analysis.synthetic import write_demo_run
from harness.report import render_report
from harness.report.run_facts import read_run_facts


def _text(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">(.*?)</p>', html, re.S)
    assert match, f"no #{element_id} in the report"
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_header_states_description_scale_sut_load_and_blast_radius(tmp_path: Path) -> None:
    run_dir = write_demo_run(tmp_path / "20251126T120000Z-demo")
    info = json.loads((run_dir / "run.json").read_text())
    info["time_scale"] = 0.25
    info["host"] = {**info.get("host", {}), "cpus": 2, "load_avg_start": 0.5, "load_avg_end": 3.25}
    (run_dir / "run.json").write_text(json.dumps(info))

    render_report(run_dir, analyze_run(run_dir))
    html = (run_dir / "report.html").read_text()

    assert "A provider returns 503s for 20 s" in _text(html, "description")
    facts = _text(html, "run-facts")
    assert "time scale 0.25" in facts
    assert "host load 0.50 → 3.25 (2 CPUs)" in facts
    assert "loopback only" in facts
    assert "running at http://127.0.0.1:8000" in _text(html, "sut-command")


def test_allow_non_loopback_is_called_out(tmp_path: Path) -> None:
    run_dir = write_demo_run(tmp_path / "20251126T120000Z-demo")
    info = json.loads((run_dir / "run.json").read_text())
    info["allow_non_loopback"] = True
    (run_dir / "run.json").write_text(json.dumps(info))
    assert read_run_facts(run_dir).allow_non_loopback is True
    render_report(run_dir, analyze_run(run_dir))
    assert "non-loopback targets allowed" in _text(
        (run_dir / "report.html").read_text(), "run-facts"
    )


def test_a_broken_run_directory_leaves_the_facts_blank(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{not json")
    (tmp_path / "scenario.yaml").write_text("- a list, not a scenario\n")
    facts = read_run_facts(tmp_path)
    assert (facts.description, facts.time_scale, facts.sut, facts.host_load) == ("", None, "", "")
