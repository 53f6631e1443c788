"""The OpenAI mock against the official openai SDK: completions, models, faults, journal."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from mockprov_support import Mock

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def client(openai_mock: Mock) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=2) as c:
        yield c


def test_completion_is_wire_exact_and_deterministic(
    openai_mock: Mock, client: openai.OpenAI
) -> None:
    first = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    second = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert first.object == "chat.completion"
    assert first.id.startswith("chatcmpl-")
    assert first.choices[0].finish_reason == "stop"
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].message.content == second.choices[0].message.content
    assert "France" in (first.choices[0].message.content or "")
    assert first.usage is not None
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    other = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me about rivers"}]
    )
    assert other.choices[0].message.content != first.choices[0].message.content


def test_response_headers(openai_mock: Mock) -> None:
    r = openai_mock.http.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req_")
    assert r.headers["openai-version"] == "2020-10-01"
    assert int(r.headers["openai-processing-ms"]) >= 0
    for name in (
        "limit-requests",
        "limit-tokens",
        "remaining-requests",
        "remaining-tokens",
        "reset-requests",
        "reset-tokens",
    ):
        assert r.headers[f"x-ratelimit-{name}"]
    body = r.json()
    assert set(body) == {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "service_tier",
        "system_fingerprint",
    }
    assert set(body["choices"][0]["message"]) == {"role", "content", "refusal", "annotations"}


def test_models_list_and_get(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in ids
    assert client.models.retrieve("gpt-4o-mini").owned_by == "system"


def test_max_tokens_truncates_with_length(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION, max_tokens=3)
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens <= 3


def test_tool_call_from_schema(client: openai.OpenAI) -> None:
    tools = [
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
    r = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools,  # type: ignore[arg-type]
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.type == "function"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    # Once the tool has answered, the model answers in text.
    r2 = client.chat.completions.create(
        model="gpt-4o-mini",
        tools=tools,  # type: ignore[arg-type]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert r2.choices[0].finish_reason == "stop" and r2.choices[0].message.content


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[]", None),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "gpt-4o-mini"}', "messages"),
        (b'{"model": "gpt-4o-mini", "messages": []}', "messages"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "hi"}]}',
            "messages[0].role",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": 0}',
            "max_tokens",
        ),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
    ],
)
def test_bad_input_gets_400_and_server_stays_up(
    openai_mock: Mock, body: bytes, param: str | None
) -> None:
    r = openai_mock.http.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert openai_mock.http.get("/_brownout/health").json()["status"] == "ok"


def test_unknown_path_and_method(openai_mock: Mock) -> None:
    r = openai_mock.http.post("/v1/nothing", json={})
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Invalid URL (POST /v1/nothing)"
    assert openai_mock.http.get("/v1/chat/completions").status_code == 405


def test_500_fault_is_retried_and_journalled(openai_mock: Mock) -> None:
    openai_mock.add_fault("provider-errors", "error", status=500, retry_after_s=0.01)
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=3) as client,
        pytest.raises(openai.InternalServerError) as info,
    ):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, extra_headers={"X-Request-Id": "req-abc"}
        )
    assert info.value.status_code == 500
    assert info.value.type == "server_error"  # type: ignore[attr-defined]
    calls = openai_mock.calls(4)
    assert len(calls) == 4
    assert len({c["fingerprint"] for c in calls}) == 1
    assert [c["retry_count"] for c in calls] == [0, 1, 2, 3]
    assert {c["status"] for c in calls} == {500}
    assert {c["fault"] for c in calls} == {"provider-errors"}
    assert {c["request_id"] for c in calls} == {"req-abc"}
    stats = openai_mock.http.get("/_brownout/stats").json()
    assert stats.pop("capacity")["queue_depth"] == 0
    assert stats == {
        "calls": 4,
        "by_status": {"500": 4},
        "by_fault": {"provider-errors": 4},
        "in_flight": 0,
    }


def test_429_retry_after_is_honoured_then_succeeds(
    openai_mock: Mock, client: openai.OpenAI
) -> None:
    openai_mock.add_fault("rl", "rate_limit", probability=0.5, retry_after_s=0.05)
    r = openai_mock.http.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION}
    )
    # probability 0.5, seed 0: find the 429 shape by asking until one arrives (bounded).
    for _ in range(20):
        if r.status_code == 429:
            break
        r = openai_mock.http.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION}
        )
    assert r.status_code == 429
    assert r.headers["retry-after"] == "0.05"
    assert r.headers["retry-after-ms"] == "50"
    error = r.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert "Please try again in 50ms." in error["message"]
    openai_mock.clear_faults()
    openai_mock.add_fault("rl-once", "rate_limit", retry_after_s=0.05)
    before = len(openai_mock.calls())
    # Remove the fault after the first 429 so the SDK's retry succeeds.
    with openai.OpenAI(
        base_url=openai_mock.url + "/v1",
        api_key="x",
        max_retries=2,
        http_client=httpx.Client(
            event_hooks={"response": [lambda resp: openai_mock.clear_faults()]}
        ),
    ) as c2:
        ok = c2.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert ok.choices[0].message.content
    calls = openai_mock.calls(before + 2)[before:]
    assert [c["status"] for c in calls] == [429, 200]
    assert [c["retry_count"] for c in calls] == [0, 1]
    assert calls[0]["fingerprint"] == calls[1]["fingerprint"]


def test_502_is_an_html_page(openai_mock: Mock) -> None:
    openai_mock.add_fault("edge", "error", status=502)
    r = openai_mock.http.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION}
    )
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in r.text
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=0) as c,
        pytest.raises(openai.InternalServerError, match="Error code: 502"),
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (503, "The server is overloaded or not ready yet."),
        (500, "The server had an error while processing your request. Sorry about that!"),
    ],
)
def test_json_5xx_bodies(openai_mock: Mock, status: int, text: str) -> None:
    openai_mock.add_fault("e", "error", status=status, should_retry="false")
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=2) as c,
        pytest.raises(openai.InternalServerError) as info,
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert info.value.message.endswith(text)
    assert len(openai_mock.calls(1)) == 1  # x-should-retry: false stops the SDK retrying


def test_journal_fields(openai_mock: Mock, client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=QUESTION,
        extra_headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    (row,) = openai_mock.calls(1)
    assert set(row) == {
        "t",
        "t_end",
        "provider",
        "name",
        "endpoint",
        "method",
        "model",
        "request_id",
        "traceparent",
        "retry_count",
        "fingerprint",
        "status",
        "fault",
        "tokens_in",
        "tokens_out",
        "latency_ms",
        "stream",
        "stream_completed",
        "in_flight",
        "queue_ms",
    }
    assert row["provider"] == "openai" and row["name"] == "openai"
    assert row["endpoint"] == "/v1/chat/completions" and row["method"] == "POST"
    assert row["traceparent"].startswith("00-0af7")
    assert row["request_id"] is None and row["retry_count"] == 0
    assert row["status"] == 200 and row["fault"] is None
    assert row["stream"] is False and row["stream_completed"] is None
    assert row["in_flight"] == 1 and row["t_end"] >= row["t"]
    assert row["tokens_in"] > 0 and row["tokens_out"] > 0
    openai_mock.http.get("/_brownout/health")
    assert len(openai_mock.calls()) == 1  # control calls are not journalled


def test_replayed_calls_match_full_path(openai_mock: Mock) -> None:
    """Identical calls are served from the replay cache: same content, fresh ids, same journal."""
    headers = {"x-request-id": "r-1", "traceparent": "00-ab-cd-01", "x-stainless-retry-count": "0"}
    replies = [
        openai_mock.http.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": QUESTION},
            headers=headers,
        )
        for _ in range(3)
    ]
    bodies = [r.json() for r in replies]
    assert len({b["id"] for b in bodies}) == 3
    assert len({r.headers["x-request-id"] for r in replies}) == 3
    for b in bodies:
        b.pop("id")
        b.pop("created")
    assert bodies[0] == bodies[1] == bodies[2]
    assert set(replies[2].headers) >= set(replies[0].headers) - {"date"}
    rows = openai_mock.calls(3)
    first, *rest = rows
    for row in rest:
        assert row.keys() == first.keys()
        for key in ("t", "t_end", "latency_ms"):
            row.pop(key)
        assert row == {k: v for k, v in first.items() if k not in ("t", "t_end", "latency_ms")}
    assert first["request_id"] == "r-1" and first["retry_count"] == 0
    # With a fault active the full path runs again (and the fault is journalled).
    openai_mock.add_fault("wrong", "wrong_answer")
    changed = openai_mock.http.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": QUESTION}
    ).json()
    assert (
        changed["choices"][0]["message"]["content"] != bodies[0]["choices"][0]["message"]["content"]
    )
    assert openai_mock.calls(4)[3]["fault"] == "wrong"
