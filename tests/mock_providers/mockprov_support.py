"""Helpers for the mock provider tests: real servers on 127.0.0.1:0, their journals.

A module of its own (not conftest.py) because every test directory has a conftest and
`from conftest import ...` would pick whichever was imported first."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

from mock_providers import MockConfig, MockServer

REPO = Path(__file__).resolve().parents[2]

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
