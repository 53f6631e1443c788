"""OpenAI SSE streaming and the mid-stream faults, seen through the openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import openai
import pytest
from mockprov_support import Mock

Q = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
def client(openai_mock: Mock) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=0) as c:
        yield c


def _text(chunks: list[openai.types.chat.ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_matches_non_stream(openai_mock: Mock, client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=Q)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=Q, stream=True, stream_options={"include_usage": True}
        )
    )
    assert _text(chunks) == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    plain = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert all(c.usage is None for c in plain) and plain[-1].choices[0].finish_reason == "stop"
    row = openai_mock.calls(3)[1]
    assert row["stream"] is True and row["stream_completed"] is True


def test_raw_sse_framing(openai_mock: Mock) -> None:
    with openai_mock.http.stream(
        "POST", "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": Q, "stream": True}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers.get("transfer-encoding") == "chunked"
        body = r.read().decode()
    frames = body.split("\n\n")
    assert frames[-2] == "data: [DONE]" and frames[-1] == ""
    assert all(f.startswith("data: ") for f in frames[:-1])
    assert "event:" not in body


def test_stream_tool_call_deltas(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=TOOLS,
            stream=True,
        )
    )  # type: ignore[arg-type]
    first = chunks[0].choices[0].delta.tool_calls[0]  # type: ignore[index]
    assert first.index == 0 and first.id and first.function.name == "get_weather"  # type: ignore[union-attr]
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices
        for tc in c.choices[0].delta.tool_calls or []
    )  # type: ignore[union-attr]
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    with client.chat.completions.stream(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == args  # type: ignore[index,union-attr]


def test_stream_error_frame(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("mid", "stream_error", after_chunks=2)
    got: list[object] = []
    with pytest.raises(openai.APIError, match="The server had an error"):
        got.extend(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert len(got) == 2
    (row,) = openai_mock.calls(1)
    assert row["status"] == 200 and row["stream_completed"] is False and row["fault"] == "mid"


def test_stream_truncate_is_silent(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("cut", "stream_truncate", after_chunks=4)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert len(chunks) == 4 and all(c.choices[0].finish_reason is None for c in chunks)
    (row,) = openai_mock.calls(1)
    assert row["stream_completed"] is False


def test_stream_reset_is_connection_error(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("rst", "connection_reset", after_chunks=3)
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    (row,) = openai_mock.calls(1)
    assert row["status"] == 200 and row["stream_completed"] is False


def test_reset_before_response_is_retried(openai_mock: Mock) -> None:
    openai_mock.add_fault("rst", "connection_reset")
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=1) as c,
        pytest.raises(openai.APIConnectionError),
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=Q)
    rows = openai_mock.calls(2)
    assert [r["status"] for r in rows] == [0, 0] and [r["retry_count"] for r in rows] == [0, 1]


def test_malformed_frame_raises_json_error(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("junk", "malformed_frame", after_chunks=2)
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))


def test_stall_beyond_read_timeout(openai_mock: Mock) -> None:
    openai_mock.add_fault("stall", "stream_stall", after_chunks=2, stall_s=5.0)
    with openai.OpenAI(
        base_url=openai_mock.url + "/v1", api_key="x", max_retries=0, timeout=0.5
    ) as c:
        got: list[object] = []
        with pytest.raises(openai.APITimeoutError):
            got.extend(c.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert len(got) == 2
    # The server notices the hang-up and ends the call well before the 5 s stall is over.
    (row,) = openai_mock.calls(1)
    assert row["stream_completed"] is False and row["latency_ms"] < 4500


def test_stall_then_continue(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("stall", "stream_stall", after_chunks=1, stall_s=0.3)
    t0 = time.monotonic()
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert time.monotonic() - t0 >= 0.29  # libuv timers: 1 ms granularity
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_cadence_and_first_token(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("ttft", "slow_first_token", ms=300)
    openai_mock.add_fault("slow", "slow_cadence", interval_ms=20)
    t0 = time.monotonic()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True)
    stamps = []
    for _ in stream:
        stamps.append(time.monotonic() - t0)
    assert stamps[0] >= 0.29
    assert stamps[-1] - stamps[0] >= 0.02 * (len(stamps) - 4)
    (row,) = openai_mock.calls(1)
    assert row["fault"] == "ttft,slow"
