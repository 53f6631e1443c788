"""Recorded bodies (record_bodies: true) never keep a secret, not even half of one at the cap.

Both writers are driven directly: ``harness.bodies`` (the load generator's) and the mock's
``BodyJournal``, whose ASGI ``send`` wrapper sees a real response sent in several chunks.
The real-run proof (headers, ``sut.env``, every file of the run) is
tests/e2e/test_e2e_record_bodies.py.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness.bodies import BODY_CAP_BYTES, BodyLog, capped, redactor_from_env, secret_env
from harness.redact import REDACTED
from mock_providers.core.bodies import BodyJournal

SECRET = "sk-straddle-0123456789abcdef"


def straddling() -> bytes:
    """A body whose secret starts 10 bytes before the cap and ends after it."""
    return b"a" * (BODY_CAP_BYTES - 10) + SECRET.encode() + b"b" * 5000


def test_load_side_redacts_before_the_cut(tmp_path: Path) -> None:
    env = secret_env([SECRET])
    redactor = redactor_from_env(env)
    part = capped(straddling(), redactor)
    assert part["truncated"] is True and part["bytes"] == len(straddling())
    assert SECRET[:8] not in part["body"] and REDACTED in part["body"]
    assert part["body"].endswith(f"…[truncated: {len(straddling())} bytes in all]")
    assert len(part["body"].encode()) <= BODY_CAP_BYTES + 40
    short = capped(b'{"q": "hi"}')
    assert short == {"body": '{"q": "hi"}', "bytes": 11, "truncated": False}

    log = BodyLog(tmp_path / "bodies.jsonl", redactor)
    log.exchange("rid-1", 1.0, {"question": f"my key is {SECRET}"}, 200, b'{"answer": "ok"}')
    log.close()
    line = (tmp_path / "bodies.jsonl").read_text("utf-8")
    assert SECRET not in line
    row = json.loads(line)
    assert row["request"]["body"] == '{"question":"my key is [redacted]"}'
    assert row["response"] == {
        "status": 200,
        "body": '{"answer": "ok"}',
        "bytes": 16,
        "truncated": False,
    }


def test_mock_side_redacts_and_caps_a_chunked_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in secret_env([SECRET]).items():
        monkeypatch.setenv(key, value)
    journal = BodyJournal(tmp_path / "provider_bodies.jsonl")
    delivered: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        delivered.append(message)

    scope = {"path": "/v1/chat/completions", "headers": [(b"x-request-id", b"rid-7")]}
    wrapped = journal.capture(scope, f'{{"prompt": "{SECRET}"}}'.encode(), send)
    body = straddling()

    async def respond() -> None:
        await wrapped({"type": "http.response.start", "status": 200, "headers": []})
        for start in range(0, len(body), 3000):  # a stream: several chunks
            chunk = body[start : start + 3000]
            await wrapped({"type": "http.response.body", "body": chunk, "more_body": True})
        await wrapped({"type": "http.response.body", "body": b"", "more_body": False})

    asyncio.run(respond())
    journal.close()
    assert b"".join(m.get("body", b"") for m in delivered) == body  # the client got it all
    text = (tmp_path / "provider_bodies.jsonl").read_text("utf-8")
    assert SECRET[:8] not in text
    (row,) = [json.loads(line) for line in text.splitlines()]
    assert row["request_id"] == "rid-7" and row["endpoint"] == "/v1/chat/completions"
    assert row["request"]["body"] == '{"prompt": "[redacted]"}'
    assert row["response"]["status"] == 200 and row["response"]["bytes"] == len(body)
    assert row["response"]["truncated"] is True and REDACTED in row["response"]["body"]
