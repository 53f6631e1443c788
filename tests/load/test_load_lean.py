"""The lean send path (harness.load.lean) against FastHttpSession, on awkward exchanges.

Both paths send the same requests (JSON bodies with non-ASCII, several bodies, no body, custom
content-type/accept/accept-encoding headers, a query string to quote, dataset rows) to a real
server that answers each path differently: success, 503, a body the validator rejects, a 302
and a 303 redirect, a cookie, an event stream, 204, a body cut short, a reset, a hang past the
timeout, and a refused connection. The bytes that reached the server, the records brownout
wrote and the ``events.request`` Locust saw must be the same; the script runs in its own
process because it imports Locust, which monkey-patches the interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

HELPER = Path(__file__).with_name("lean_compare.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("lean") / "compared.json"
    subprocess.run(
        [sys.executable, str(HELPER), str(out)], cwd=ROOT, check=True, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


@pytest.mark.parametrize("part", ["wire", "records", "events"])
def test_lean_path_matches_fast_http_session(compared: dict[str, Any], part: str) -> None:
    session, lean = compared["session"][part], compared["lean"][part]
    assert len(session) == len(lean) > 30
    for index, (old, new) in enumerate(zip(session, lean, strict=True)):
        assert new == old, f"{part}[{index}] differs"


def test_each_path_is_the_one_taken(compared: dict[str, Any]) -> None:
    # The lean run sends every request directly but one: once a response has set a cookie,
    # that user's requests go through FastHttpSession, which adds it (the second /cookie).
    assert set(compared["session"]["kinds"]) == {"session"}
    assert Counter(compared["lean"]["kinds"]) == {"lean": 39, "session": 1}


def test_awkward_cases_all_happened(compared: dict[str, Any]) -> None:
    records = compared["session"]["records"]
    classes = {r["error_class"] for r in records}
    assert {None, "connection", "http_503", "timeout", "validation"} <= classes
    assert any(r["streamed"] for r in records)
    assert any(r["error"] and r["error"].startswith("body cut after") for r in records)
    wire = compared["session"]["wire"]
    assert any(w.startswith("GET /final ") for w in wire)  # redirects followed
    assert any("\r\nCookie: session=abc123\r\n" in w for w in wire)
    assert any(w.startswith("POST /row/2 ") for w in wire)
