"""Fixtures for the load-driver tests.

The fake provider and SUT helpers live with the example SUT tests (tests/examples); they are
imported from there by path because tests/ has no packages.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "examples"))

from load_support import RunLocust, run_locust_in
from ragsut_support import FakeProvider, running_fake_provider


@pytest.fixture
def run_locust(tmp_path: Path) -> RunLocust:
    return partial(run_locust_in, tmp_path)


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as provider:
        yield provider
