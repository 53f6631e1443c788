"""Fixtures for analysis tests: synthetic run directories with known numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.analysis.synthetic import RunDirWriter


@pytest.fixture
def run_writer(tmp_path: Path) -> Iterator[RunDirWriter]:
    writer = RunDirWriter(tmp_path / "20251126T120000Z-synthetic")
    yield writer
    writer.close()
