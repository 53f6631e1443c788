"""Fixtures for the example SUT tests: a fake provider and a started SUT process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ragsut_support import (
    FakeProvider,
    ReadyProcess,
    running_fake_provider,
    start_ready_process,
    sut_command,
)


@pytest.fixture
def fake_provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as provider:
        yield provider


@pytest.fixture
def start_sut(tmp_path: Path) -> Iterator[Callable[..., ReadyProcess]]:
    started: list[ReadyProcess] = []

    def start(provider_url: str, policy: str, *extra: str) -> ReadyProcess:
        log = tmp_path / f"sut-{len(started)}.stderr"
        process = start_ready_process(sut_command(provider_url, policy, *extra), log)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
