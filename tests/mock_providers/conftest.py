"""Fixtures for the mock provider tests: real servers on 127.0.0.1:0, journals, clients."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # when pytest is run without the package installed
    sys.path.insert(0, str(REPO))

from mock_providers import MockConfig, MockServer  # noqa: E402

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float = 10.0, what: str = "") -> T:
    """Poll `predicate` until it returns something truthy; fail showing the last value seen."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what or predicate}; last value: {last!r}"
    )


def read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


class Mock:
    """A running mock plus helpers to drive its control API and read its journal."""

    def __init__(self, server: MockServer, journal: Path) -> None:
        self.server = server
        self.url = server.url
        self.journal = journal
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def add_fault(
        self, name: str, type_: str, probability: float = 1.0, **params: Any
    ) -> dict[str, Any]:
        r = self.http.post(
            "/_brownout/faults",
            json={"name": name, "type": type_, "probability": probability, "params": params},
        )
        assert r.status_code == 201, r.text
        result: dict[str, Any] = r.json()
        return result

    def clear_faults(self) -> None:
        assert self.http.delete("/_brownout/faults").status_code == 204

    def calls(self, expected: int | None = None) -> list[dict[str, Any]]:
        """Journal lines; with `expected`, waits until that many were written."""
        if expected is None:
            return read_journal(self.journal)
        return wait_until(
            lambda: (rows := read_journal(self.journal)) and len(rows) >= expected and rows,
            what=f"{expected} journal lines",
        )

    def close(self) -> None:
        self.http.close()
        self.server.stop()


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


def start_mock(flavour: str, journal: Path | None = None, **kwargs: Any) -> Mock:
    """A started mock for module-scoped fixtures (the caller closes it)."""
    server = MockServer(
        MockConfig(
            flavour=flavour,
            journal=journal,  # type: ignore[arg-type]
            **kwargs,
        )
    )
    server.start()
    return Mock(server, journal or Path("/nonexistent/journal.jsonl"))
