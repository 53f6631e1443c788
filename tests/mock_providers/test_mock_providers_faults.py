"""The rest of the fault catalogue: latency, tokenizer, safety, deprecation, wrong answers,
rate-limit buckets, and the non-chat endpoints (embeddings, responses, models)."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest
from mockprov_support import Mock

Q = [{"role": "user", "content": "What is the capital of France?"}]
CHAT = {"model": "gpt-4o-mini", "messages": Q}


@pytest.fixture
def client(openai_mock: Mock) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=0) as c:
        yield c


def test_latency_spike(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("spike", "latency", ms=300, jitter_ms=50)
    t0 = time.monotonic()
    client.chat.completions.create(model="gpt-4o-mini", messages=Q)
    assert time.monotonic() - t0 >= 0.29  # libuv timers: 1 ms granularity
    (row,) = openai_mock.calls(1)
    assert row["fault"] == "spike" and row["latency_ms"] >= 290


def test_slow_drift_grows(openai_mock: Mock) -> None:
    openai_mock.add_fault("drift", "slow_drift", ms_per_s=1000, max_ms=400)
    first = openai_mock.http.post("/v1/chat/completions", json=CHAT)
    time.sleep(0.3)  # the drift is a function of time: this wait IS the behaviour under test
    second = openai_mock.http.post("/v1/chat/completions", json=CHAT)
    assert first.status_code == second.status_code == 200
    rows = openai_mock.calls(2)
    assert rows[1]["latency_ms"] > rows[0]["latency_ms"] + 150
    assert rows[1]["latency_ms"] < 2000


def test_tokenizer_change(openai_mock: Mock, client: openai.OpenAI) -> None:
    base = client.chat.completions.create(model="gpt-4o-mini", messages=Q)
    base_chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    openai_mock.add_fault("tok", "tokenizer", scale=2.0, piece_chars=2)
    changed = client.chat.completions.create(model="gpt-4o-mini", messages=Q)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
    assert changed.usage.prompt_tokens == 2 * base.usage.prompt_tokens  # type: ignore[union-attr]
    assert changed.usage.completion_tokens > base.usage.completion_tokens  # type: ignore[union-attr]
    assert len(chunks) > len(base_chunks)
    assert changed.choices[0].message.content == base.choices[0].message.content


def test_tokenizer_smaller_window_gives_context_error(
    openai_mock: Mock, client: openai.OpenAI
) -> None:
    openai_mock.add_fault("tok", "tokenizer", scale=1.0, piece_chars=4, context_window=10)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=Q * 3)
    assert info.value.code == "context_length_exceeded"
    assert info.value.param == "messages"  # type: ignore[attr-defined]
    assert (
        "This model's maximum context length is 10 tokens. However, your messages "
        "resulted in" in info.value.message
    )


def test_real_context_window(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="maximum context length is 8192"):
        client.chat.completions.create(
            model="gpt-mock-small", messages=[{"role": "user", "content": "word " * 9000}]
        )


@pytest.mark.parametrize("mode", ["content_filter", "refusal", "azure_400"])
def test_safety_openai(openai_mock: Mock, client: openai.OpenAI, mode: str) -> None:
    openai_mock.add_fault("safety", "safety", mode=mode)
    if mode == "azure_400":
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="gpt-4o-mini", messages=Q)
        assert info.value.code == "content_filter"
        assert "content management policy" in info.value.message
        return
    r = client.chat.completions.create(model="gpt-4o-mini", messages=Q)
    choice = r.choices[0]
    if mode == "content_filter":
        assert choice.finish_reason == "content_filter" and choice.message.content is None
    else:
        assert choice.message.refusal and choice.message.content is None
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=Q, stream=True))
        assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == choice.message.refusal


def test_safety_anthropic_refusal(anthropic_mock: Mock) -> None:
    anthropic_mock.add_fault("safety", "safety", mode="refusal")
    with anthropic.Anthropic(base_url=anthropic_mock.url, api_key="x") as c:
        m = c.messages.create(model="claude-mock-haiku", max_tokens=50, messages=Q)
    assert m.stop_reason == "refusal" and m.content == []


def test_deprecation(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("eol", "deprecation", models=["gpt-4o"])
    with pytest.raises(openai.NotFoundError, match="has been deprecated") as info:
        client.chat.completions.create(model="gpt-4o", messages=Q)
    assert info.value.code == "model_not_found"
    assert client.chat.completions.create(model="gpt-4o-mini", messages=Q).choices


def test_wrong_answer_is_stable_and_differs(make_mock: Callable[..., Mock]) -> None:
    knowledge = {"What is the capital of France?": "Paris."}
    mock = make_mock("openai", knowledge=knowledge)
    right = mock.http.post("/v1/chat/completions", json=CHAT).json()
    assert right["choices"][0]["message"]["content"] == "Paris."
    mock.add_fault("wrong", "wrong_answer")
    wrong = [
        mock.http.post("/v1/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
        for _ in range(2)
    ]
    assert wrong[0] == wrong[1] != "Paris."
    assert "It is not Paris." in wrong[0]


def test_rate_limit_request_bucket(openai_mock: Mock) -> None:
    openai_mock.add_fault("rpm", "rate_limit", rpm=2)
    codes = [openai_mock.http.post("/v1/chat/completions", json=CHAT) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    limited = codes[2]
    wait_s = float(limited.headers["retry-after"])
    assert 20 < wait_s <= 30  # one request refills in 60/2 s
    assert int(limited.headers["retry-after-ms"]) == pytest.approx(wait_s * 1000, abs=2)
    assert (
        "on requests per min (RPM): Limit 2, Used 2, Requested 1."
        in limited.json()["error"]["message"]
    )


def test_rate_limit_token_bucket(openai_mock: Mock) -> None:
    openai_mock.add_fault("tpm", "rate_limit", tpm=30, retry_after_header="ms")
    first = openai_mock.http.post("/v1/chat/completions", json=dict(CHAT, max_tokens=10))
    second = openai_mock.http.post("/v1/chat/completions", json=dict(CHAT, max_tokens=10))
    assert (first.status_code, second.status_code) == (200, 429)
    error = second.json()["error"]
    assert error["type"] == "tokens" and error["code"] == "rate_limit_exceeded"
    assert "retry-after" not in second.headers and int(second.headers["retry-after-ms"]) > 0


def test_quota_and_should_retry(openai_mock: Mock) -> None:
    openai_mock.add_fault("quota", "rate_limit", quota=True, retry_after_s=None)
    r = openai_mock.http.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in r.headers
    openai_mock.clear_faults()
    openai_mock.add_fault("bad", "error", status=400, should_retry="true", retry_after_s=0.01)
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=2) as c,
        pytest.raises(openai.BadRequestError),
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=Q)
    assert len(openai_mock.calls(4)) == 4  # 1 + 3 (2 forced SDK retries)


def test_faults_on_models_endpoint(openai_mock: Mock, client: openai.OpenAI) -> None:
    openai_mock.add_fault("down", "error", status=503, endpoints=["/v1/models"])
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    assert client.chat.completions.create(model="gpt-4o-mini", messages=Q).choices


def test_embeddings(openai_mock: Mock, client: openai.OpenAI) -> None:
    default = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )
    assert len(default.data) == 2 and len(default.data[0].embedding) == 1536
    assert default.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.data[0].embedding != default.data[1].embedding
    raw = openai_mock.http.post(
        "/v1/embeddings",
        json={
            "model": "text-embedding-3-small",
            "input": "a",
            "encoding_format": "base64",
            "dimensions": 8,
        },
    ).json()
    vec = struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"]))
    assert sum(x * x for x in vec) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-4o-mini", input="a")
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="text-embedding-3-small", input="")


def test_responses_api(openai_mock: Mock, client: openai.OpenAI) -> None:
    r = client.responses.create(model="gpt-4o-mini", input="What is the capital of France?")
    assert r.status == "completed" and "France" in r.output_text
    assert r.usage is not None and r.usage.total_tokens > 0
    events = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    assert events[:2] == ["response.created", "response.in_progress"]
    assert events[-1] == "response.completed" and "response.output_text.delta" in events
    tools: list[dict[str, object]] = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    t = client.responses.create(model="gpt-4o-mini", input="Weather in Paris?", tools=tools)  # type: ignore[arg-type]
    assert t.output[0].type == "function_call"
    assert json.loads(t.output[0].arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    openai_mock.add_fault("cut", "stream_truncate", after_chunks=3)
    with (
        pytest.raises(RuntimeError, match=r"response\.completed"),
        client.responses.stream(model="gpt-4o-mini", input="hi") as s,
    ):
        s.get_final_response()


def test_latency_profile_applies_to_replayed_calls(make_mock: Callable[..., Mock]) -> None:
    from mock_providers.core.models import default_models, with_latency

    mock = make_mock("openai", models=with_latency(default_models("openai"), 150, 0, 0))
    bodies = []
    for _ in range(3):  # the 2nd and 3rd calls are replays of the 1st
        t0 = time.monotonic()
        bodies.append(mock.http.post("/v1/chat/completions", json=CHAT).json())
        assert time.monotonic() - t0 >= 0.14  # libuv timers have 1 ms granularity
    assert len({b["choices"][0]["message"]["content"] for b in bodies}) == 1
    assert len({b["id"] for b in bodies}) == 3
    rows = mock.calls(3)
    assert all(r["latency_ms"] >= 145 and r["status"] == 200 for r in rows), rows
    assert len({r["fingerprint"] for r in rows}) == 1
