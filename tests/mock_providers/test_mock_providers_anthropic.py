"""The Anthropic mock against the official anthropic SDK: messages, streams, tools, errors."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx2
import pytest
from mockprov_support import Mock

HI = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(anthropic_mock: Mock) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=anthropic_mock.url, api_key="x", max_retries=2) as c:
        yield c


def test_message_non_stream(client: anthropic.Anthropic) -> None:
    m = client.messages.create(model="claude-mock-haiku", max_tokens=200, messages=HI)
    again = client.messages.create(model="claude-mock-haiku", max_tokens=200, messages=HI)
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    assert m.content[0].type == "text" and "France" in m.content[0].text
    assert m.content[0].text == again.content[0].text  # type: ignore[union-attr]
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0
    assert m.usage.service_tier == "standard"


def test_max_tokens_stop_reason(client: anthropic.Anthropic) -> None:
    m = client.messages.create(model="claude-mock-haiku", max_tokens=2, messages=HI)
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens <= 2


def test_tool_use_and_stream_helper(client: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    m = client.messages.create(
        model="claude-mock-haiku", max_tokens=200, messages=ask, tools=[WEATHER_TOOL]
    )  # type: ignore[list-item]
    assert m.stop_reason == "tool_use"
    tool = m.content[-1]
    assert tool.type == "tool_use" and tool.name == "get_weather"
    assert tool.input == {"city": "Paris"} and tool.id.startswith("toolu_")
    with client.messages.stream(
        model="claude-mock-haiku", max_tokens=200, messages=ask, tools=[WEATHER_TOOL]
    ) as stream:  # type: ignore[list-item]
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[-1].input == {"city": "Paris"}  # type: ignore[union-attr]
    follow = client.messages.create(
        model="claude-mock-haiku",
        max_tokens=200,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            *ask,
            {"role": "assistant", "content": m.content},  # type: ignore[list-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny"}],
            },
        ],
    )
    assert follow.stop_reason == "end_turn" and follow.content[0].type == "text"


def test_raw_stream_event_sequence(client: anthropic.Anthropic) -> None:
    events = list(
        client.messages.create(model="claude-mock-haiku", max_tokens=200, messages=HI, stream=True)
    )
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types[1] == "content_block_start" and "content_block_stop" in types
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    plain = client.messages.create(model="claude-mock-haiku", max_tokens=200, messages=HI)
    assert text == plain.content[0].text  # type: ignore[union-attr]
    delta = events[-2]
    assert delta.usage.output_tokens == plain.usage.output_tokens  # type: ignore[union-attr]


def test_count_tokens_and_models(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model="claude-mock-haiku", messages=HI)
    m = client.messages.create(model="claude-mock-haiku", max_tokens=50, messages=HI)
    assert counted.input_tokens == m.usage.input_tokens
    ids = [model.id for model in client.models.list()]
    assert "claude-mock-haiku" in ids
    assert client.models.retrieve("claude-mock-haiku").display_name == "Claude Mock Haiku"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "k", "anthropic-version": "2023-06-01"},
        {"authorization": "Bearer k", "anthropic-version": "2026-10-21"},
        {"x-api-key": "k", "anthropic-version": "1999-01-01", "anthropic-beta": "tools-2099"},
    ],
)
def test_both_auth_styles_any_version(anthropic_mock: Mock, headers: dict[str, str]) -> None:
    r = anthropic_mock.http.post(
        "/v1/messages",
        headers=headers,
        json={"model": "claude-mock-haiku", "max_tokens": 10, "messages": HI},
    )
    assert r.status_code == 200
    assert r.headers["request-id"].startswith("req_")
    assert r.headers["anthropic-ratelimit-requests-limit"]
    assert r.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "claude-mock-haiku", "messages": HI}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": HI}, "model: Field required"),
        ({"model": "claude-mock-haiku", "max_tokens": 5}, "messages: Field required"),
        (
            {
                "model": "claude-mock-haiku",
                "max_tokens": 5,
                "messages": [{"role": "system", "content": "x"}],
            },
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
    ],
)
def test_bad_input_400(anthropic_mock: Mock, body: dict[str, object], message: str) -> None:
    r = anthropic_mock.http.post("/v1/messages", json=body)
    assert r.status_code == 400
    payload = r.json()
    assert payload["type"] == "error" and payload["request_id"].startswith("req_")
    assert payload["error"] == {"type": "invalid_request_error", "message": message}
    assert anthropic_mock.http.post("/v1/messages", content=b"{").status_code == 400
    assert anthropic_mock.http.get("/_brownout/health").status_code == 200


def test_529_overloaded_retried(anthropic_mock: Mock, client: anthropic.Anthropic) -> None:
    anthropic_mock.add_fault("overload", "error", status=529, retry_after_s=0.01)
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.create(model="claude-mock-haiku", max_tokens=5, messages=HI)
    assert info.value.body["error"] == {  # type: ignore[index]
        "type": "overloaded_error",
        "message": "Overloaded",
    }
    rows = anthropic_mock.calls(3)
    assert [r["retry_count"] for r in rows] == [0, 1, 2]
    assert len({r["fingerprint"] for r in rows}) == 1


def test_429_rate_limit_error(anthropic_mock: Mock) -> None:
    anthropic_mock.add_fault("rl", "rate_limit", retry_after_s=2)
    r = anthropic_mock.http.post(
        "/v1/messages", json={"model": "claude-mock-haiku", "max_tokens": 5, "messages": HI}
    )
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["type"] == "rate_limit_error"


def test_stream_error_event_mid_stream(anthropic_mock: Mock, client: anthropic.Anthropic) -> None:
    anthropic_mock.add_fault("mid", "stream_error", after_chunks=3)
    with pytest.raises(anthropic.APIStatusError) as info:
        list(
            client.messages.create(
                model="claude-mock-haiku", max_tokens=100, messages=HI, stream=True
            )
        )
    assert info.value.status_code == 200  # the error arrived after the 200 (§3)
    (row,) = anthropic_mock.calls(1)
    assert row["stream"] and row["stream_completed"] is False and row["fault"] == "mid"


def test_context_window_prompt_too_long(anthropic_mock: Mock, client: anthropic.Anthropic) -> None:
    long = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(
        anthropic.BadRequestError, match=r"prompt is too long: \d+ tokens > 8192 maximum"
    ):
        client.messages.create(model="claude-mock-small", max_tokens=5, messages=long)


def test_stream_abort_raises_raw_transport_error(
    anthropic_mock: Mock, client: anthropic.Anthropic
) -> None:
    anthropic_mock.add_fault("cut", "connection_reset", after_chunks=2)
    # A real RST: the SDK does not wrap it (provider-wire.md §3), it surfaces as httpx2's.
    with pytest.raises(httpx2.TransportError, match="reset"):
        list(
            client.messages.create(
                model="claude-mock-haiku", max_tokens=100, messages=HI, stream=True
            )
        )
    (row,) = anthropic_mock.calls(1)
    assert row["status"] == 200 and row["stream_completed"] is False


def test_ping_after_first_block_start(anthropic_mock: Mock) -> None:
    raw = anthropic_mock.http.post(
        "/v1/messages",
        json={"model": "claude-mock-haiku", "max_tokens": 50, "messages": HI, "stream": True},
    ).text
    events = [line[len("event: ") :] for line in raw.splitlines() if line.startswith("event: ")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]  # the SDK drops pings
    assert events[-2:] == ["message_delta", "message_stop"]


def test_extended_thinking(client: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    m = client.messages.create(
        model="claude-mock-sonnet", max_tokens=2048, messages=HI, thinking=thinking
    )  # type: ignore[arg-type]
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert m.content[0].thinking and m.content[0].signature  # type: ignore[union-attr]
    events = list(
        client.messages.create(
            model="claude-mock-sonnet",
            max_tokens=2048,
            messages=HI,
            thinking=thinking,  # type: ignore[arg-type]
            stream=True,
        )
    )
    deltas = {e.delta.type for e in events if e.type == "content_block_delta"}
    assert deltas == {"thinking_delta", "signature_delta", "text_delta"}
    assert [e.type for e in events[:2]] == ["message_start", "content_block_start"]
    with client.messages.stream(
        model="claude-mock-sonnet", max_tokens=2048, messages=HI, thinking=thinking
    ) as s:  # type: ignore[arg-type]
        final = s.get_final_message()
    assert final.content[0].thinking == m.content[0].thinking  # type: ignore[union-attr]
    assert final.content[1].text == m.content[1].text  # type: ignore[union-attr]
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        client.messages.create(
            model="claude-mock-sonnet", max_tokens=1000, messages=HI, thinking=thinking
        )  # type: ignore[arg-type]
