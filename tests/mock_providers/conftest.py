"""Fixtures for the mock provider tests (helpers live in mockprov_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mockprov_support import Mock

from mock_providers import MockConfig, MockServer


@pytest.fixture
def make_mock(tmp_path: Path) -> Iterator[Callable[..., Mock]]:
    mocks: list[Mock] = []

    def make(flavour: str = "openai", seed: int = 0, **kwargs: Any) -> Mock:
        journal = tmp_path / f"calls-{flavour}-{len(mocks)}.jsonl"
        server = MockServer(
            MockConfig(
                flavour=flavour,
                seed=seed,  # type: ignore[arg-type]
                journal=journal,
                **kwargs,
            )
        )
        server.start()
        mock = Mock(server, journal)
        mocks.append(mock)
        return mock

    yield make
    for mock in mocks:
        mock.close()


@pytest.fixture
def openai_mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock("openai")


@pytest.fixture
def anthropic_mock(make_mock: Callable[..., Mock]) -> Mock:
    return make_mock("anthropic")
