"""Hypothesis: no input makes a mock answer 5xx, send a traceback, or fall over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mockprov_support import Mock, start_mock

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
roles = st.sampled_from(["user", "assistant", "system", "tool", "developer", "wizard", None])
messages = st.lists(
    st.fixed_dictionaries(
        {"role": roles},
        optional={
            "content": st.text(max_size=50) | json_values,
            "tool_call_id": st.text(max_size=5),
        },
    ),
    max_size=4,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["gpt-4o-mini", "claude-mock-haiku", "nope", ""]) | json_values,
        "messages": messages | json_values,
        "max_tokens": st.integers(-5, 50) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": json_values,
        "tools": json_values,
        "tool_choice": json_values,
        "system": json_values,
    },
)
SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def mocks() -> Iterator[dict[str, Mock]]:
    started = {"openai": start_mock("openai"), "anthropic": start_mock("anthropic")}
    yield started
    for mock in started.values():
        mock.close()


def _check(mock: Mock, path: str, body: bytes) -> httpx.Response:
    r = mock.http.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code < 500, (path, body, r.text)
    if r.headers.get("content-type", "").startswith("application/json"):
        payload: Any = r.json()
        if r.status_code >= 400:
            assert "error" in payload
    return r


@SETTINGS
@given(body=chat_bodies)
def test_chat_bodies(mocks: dict[str, Mock], body: dict[str, Any]) -> None:
    import orjson

    raw = orjson.dumps(body)
    _check(mocks["openai"], "/v1/chat/completions", raw)
    _check(mocks["openai"], "/v1/responses", raw)
    _check(mocks["anthropic"], "/v1/messages", raw)
    _check(mocks["anthropic"], "/v1/messages/count_tokens", raw)


@SETTINGS
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: __import__("orjson").dumps(v)))
def test_arbitrary_bytes(mocks: dict[str, Mock], raw: bytes) -> None:
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        _check(mocks["openai"], path, raw)
    _check(mocks["anthropic"], "/v1/messages", raw)


@SETTINGS
@given(
    spec=st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=8) | json_values,
            "type": st.sampled_from(["error", "rate_limit", "latency", "drift", "tokenizer", "x"])
            | json_values,
            "probability": st.floats(-1, 2) | json_values,
            "params": st.dictionaries(
                st.sampled_from(
                    ["status", "ms", "rpm", "profile", "scale", "after_chunks", "models", "zzz"]
                ),
                json_values,
                max_size=3,
            )
            | json_values,
        },
    )
)
def test_fault_specs(mocks: dict[str, Mock], spec: dict[str, Any]) -> None:
    mock = mocks["openai"]
    r = mock.http.post("/_brownout/faults", json=spec)
    assert r.status_code in (201, 400), r.text
    mock.http.delete("/_brownout/faults")
    assert mock.http.get("/_brownout/health").status_code == 200
