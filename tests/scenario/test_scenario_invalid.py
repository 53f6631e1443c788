"""Every file under invalid/ must fail with exactly the problems its ``# expect:`` lines list,
in order: all problems at once, each with file:line:col. The corpus covers hostile input too
(alias bombs, recursive aliases, deep nesting, NUL, NaN, tags, names that break paths or URLs);
a file's name says what it tries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario

INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def expected_problems(path: Path) -> list[str]:
    # errors="replace": one file of the corpus is deliberately not UTF-8.
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


def test_corpus_is_large() -> None:
    assert len(INVALID) >= 100


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_scenario_reports_every_problem(path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    problems = [p.replace(f"{path.parent}/", "") for p in caught.value.problems]
    assert problems == expected_problems(path)


def test_cli_exits_2_with_locations_and_no_traceback() -> None:
    path = Path(__file__).parent / "invalid" / "many_problems.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for problem in expected_problems(path):
        assert problem in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
