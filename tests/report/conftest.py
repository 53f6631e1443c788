"""Fixtures for report tests: analysed synthetic runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis import Summary, analyze_run
from harness.analysis.synthetic import write_demo_run


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary]:
    """The 90 s demo run (naive retries, two faults), analysed; shared by a module's tests."""
    run_dir = write_demo_run(tmp_path_factory.mktemp("report") / "20251126T120000Z-demo")
    return run_dir, analyze_run(run_dir)
