"""``brownout compare`` and the baseline gate (``run``/``report --baseline``): regressions fail
with exit 1 and appear in the terminal, JUnit and summary.md; GitHub Actions gets a job summary
and ``::error`` annotations."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.analysis import Summary
from harness.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def better_baseline(
    demo_run: tuple[Path, Summary], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A stored run whose fault phase amplified half as much as the demo run does."""
    _, summary = demo_run
    stored = summary.model_copy(deep=True)
    stored.run_id = "20251101T000000Z-good"
    fault = stored.phases["fault"]
    assert fault.retry_amplification is not None
    fault.retry_amplification /= 2
    directory = tmp_path_factory.mktemp("baseline") / stored.run_id
    directory.mkdir()
    (directory / "summary.json").write_text(stored.model_dump_json(), encoding="utf-8")
    return directory


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_compare_names_each_regression_and_exits_1(
    demo_run: tuple[Path, Summary], better_baseline: Path, tmp_path: Path
) -> None:
    run_dir, _ = demo_run
    page = tmp_path / "compare.html"
    code, out, err = invoke("compare", str(better_baseline), str(run_dir), "--html", str(page))
    assert code == 1, err
    row = next(line for line in out.splitlines() if line.startswith("| fault | Retry"))
    assert "❌ regressed" in row and "+100.0%" in row
    assert "[REGRESSED] retry_amplification in fault" in err
    assert "regressed" in page.read_text(encoding="utf-8")


def test_a_tolerance_for_that_metric_lets_it_pass(
    demo_run: tuple[Path, Summary], better_baseline: Path
) -> None:
    run_dir, _ = demo_run
    code, _, err = invoke(
        "compare", str(better_baseline), str(run_dir), "--tolerance", "retry_amplification=1.5"
    )
    assert code == 0, err
    assert "no regression" in err


def test_a_run_against_itself_has_no_regression(demo_run: tuple[Path, Summary]) -> None:
    run_dir, _ = demo_run
    code, out, _ = invoke("compare", str(run_dir), str(run_dir / "summary.json"))
    assert code == 0
    assert "NO REGRESSION" in out


@pytest.mark.parametrize(
    ("value", "message"),
    [("retry_amplificaton=0.2", "did you mean 'retry_amplification'?"), ("lots", "expected")],
)
def test_a_bad_tolerance_is_a_usage_error(
    demo_run: tuple[Path, Summary], value: str, message: str
) -> None:
    run_dir, _ = demo_run
    code, _, err = invoke("compare", str(run_dir), str(run_dir), "--tolerance", value)
    assert code == 2
    assert message in err


def test_report_with_baseline_fails_in_junit_markdown_and_github(
    demo_run: tuple[Path, Summary], better_baseline: Path, tmp_path: Path
) -> None:
    source, _ = demo_run
    run_dir = tmp_path / source.name
    shutil.copytree(source, run_dir)
    step_summary = tmp_path / "step_summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(step_summary), "GITHUB_ACTIONS": "true"}
    code, out, err = invoke("report", str(run_dir), "--baseline", str(better_baseline), env=env)
    assert code == 1
    assert "FAILED (1 regression against the baseline)" in out
    assert "[REGRESSED] retry_amplification in fault" in err
    junit = ET.parse(run_dir / "junit.xml").getroot()
    failures = [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert any("no regression against" in case.get("name", "") for case in failures)
    assert "### brownout compare ❌ REGRESSED" in step_summary.read_text(encoding="utf-8")
    annotations = [line for line in out.splitlines() if line.startswith("::error ")]
    assert any("regression%3A retry_amplification in fault" in line for line in annotations)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    failed = [slo for slo in summary["slos"] if not slo["passed"]]
    assert len(annotations) == len(failed) + 1


def test_github_annotations_point_at_the_slo_line(demo_run: tuple[Path, Summary]) -> None:
    from harness.report.github import error_annotations

    run_dir, summary = demo_run
    scenario = run_dir / "scenario.yaml"
    lines = scenario.read_text(encoding="utf-8").splitlines()
    annotations = error_annotations(summary, scenario_file=scenario)
    failed = [slo for slo in summary.slos if not slo.passed]
    assert len(annotations) == len(failed) >= 1
    for slo, annotation in zip(failed, annotations, strict=True):
        line = int(annotation.split("line=")[1].split(",")[0])
        assert f"name: {slo.name}" in lines[line - 1]  # the SLO's own entry


def test_run_refuses_a_missing_baseline_before_starting_anything(tmp_path: Path) -> None:
    empty = tmp_path / "not-a-run"
    empty.mkdir()
    reports = tmp_path / "reports"
    scenario = ROOT / "scenarios" / "quickstart.yaml"
    code, _, err = invoke(
        "run", str(scenario), "--baseline", str(empty), "--reports-dir", str(reports)
    )
    assert code == 2
    assert "no baseline summary" in err
    assert not reports.exists()
    code, _, err = invoke("run", str(scenario), "--tolerance", "0.2")
    assert code == 2 and "--tolerance needs --baseline" in err
