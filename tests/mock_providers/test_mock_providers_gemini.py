"""Flavour `gemini` through the official `google-genai` SDK with arbitrary model names:
generateContent, streamGenerateContent (SSE), countTokens, models, and Google's error shapes."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types
from mockprov_support import Mock

PROMPT = "What is the capital of France?"


@pytest.fixture
def gemini_mock(make_mock: object) -> Mock:
    return make_mock("gemini")  # type: ignore[operator, no-any-return]


def _client(mock: Mock, attempts: int = 1) -> genai.Client:
    return genai.Client(
        api_key="gemini-key",
        http_options=types.HttpOptions(
            base_url=mock.url, retry_options=types.HttpRetryOptions(attempts=attempts)
        ),
    )


def test_generate_and_stream_with_any_model(gemini_mock: Mock) -> None:
    client = _client(gemini_mock)
    done = client.models.generate_content(model="my-tuned-gemini", contents=PROMPT)
    assert done.text and done.candidates is not None
    assert done.candidates[0].finish_reason == types.FinishReason.STOP
    usage = done.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert len(chunks) > 1
    assert "".join(c.text or "" for c in chunks) == done.text
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    calls = gemini_mock.calls(2)
    # The SDK picks the API version (`v1beta` or `v1`) for a custom base URL; both are served.
    assert [c["endpoint"].split("/", 2)[2] for c in calls] == [
        "models/my-tuned-gemini:generateContent",
        "models/gemini-2.5-flash:streamGenerateContent",
    ]
    assert [c["model"] for c in calls] == ["my-tuned-gemini", "gemini-2.5-flash"]
    assert calls[1]["stream"] and calls[1]["stream_completed"]


def test_count_tokens_models_and_max_tokens(gemini_mock: Mock) -> None:
    client = _client(gemini_mock)
    counted = client.models.count_tokens(model="gemini-2.5-pro", contents=PROMPT)
    assert counted.total_tokens and counted.total_tokens > 0
    names = [m.name for m in client.models.list()]
    assert "models/gemini-2.5-flash" in names
    short = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=PROMPT,
        config=types.GenerateContentConfig(max_output_tokens=2),
    )
    assert short.candidates is not None
    assert short.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS


def test_errors_in_googles_shape(gemini_mock: Mock) -> None:
    gemini_mock.add_fault("quota", "rate_limit", retry_after_s=3)
    client = _client(gemini_mock)
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert err.value.code == 429 and err.value.status == "RESOURCE_EXHAUSTED"
    retry = [d for d in err.value.details["error"]["details"] if "RetryInfo" in d["@type"]]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
    gemini_mock.clear_faults()
    gemini_mock.add_fault("down", "error", status=503)
    with pytest.raises(errors.ServerError) as server:
        client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert server.value.code == 503 and server.value.status == "UNAVAILABLE"
    gemini_mock.clear_faults()
    no_key = gemini_mock.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": PROMPT}]}]},
    )
    assert no_key.status_code == 403
    assert no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    by_query = gemini_mock.http.post(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        params={"key": "k"},
        json={"contents": []},
    )
    assert by_query.status_code == 400
    assert by_query.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_sdk_retries_503_then_succeeds(gemini_mock: Mock) -> None:
    r = gemini_mock.http.post(
        "/_brownout/faults",
        json={"name": "blip", "type": "error", "first": 1, "params": {"status": 503}},
    )
    assert r.status_code == 201, r.text
    client = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=gemini_mock.url,
            retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.05, max_delay=0.1),
        ),
    )
    done = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert done.text
    assert [c["status"] for c in gemini_mock.calls(2)] == [503, 200]


def test_safety_and_stream_faults(gemini_mock: Mock) -> None:
    client = _client(gemini_mock)
    gemini_mock.add_fault("filter", "safety", mode="content_filter")
    filtered = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert filtered.candidates is not None
    assert filtered.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert filtered.text is None
    gemini_mock.clear_faults()
    gemini_mock.add_fault("block", "safety", mode="azure_400")
    blocked = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert blocked.prompt_feedback is not None
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.SAFETY
    gemini_mock.clear_faults()
    gemini_mock.add_fault("cut", "stream_error", after_chunks=1)
    with pytest.raises(errors.APIError) as err:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents=PROMPT))
    assert err.value.code == 500


def test_enforced_rpm_is_per_key_header_or_query(make_mock: object) -> None:
    from mock_providers.core.capacity import CapacitySpec

    mock: Mock = make_mock("gemini", capacity=CapacitySpec(rpm=1))  # type: ignore[operator]
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"parts": [{"text": PROMPT}]}]}

    def status(**how: object) -> int:
        return mock.http.post(path, json=body, **how).status_code  # type: ignore[arg-type]

    assert status(headers={"x-goog-api-key": "a"}) == 200
    assert status(params={"key": "a"}) == 429  # the same key, by query: its bucket is empty
    assert status(params={"key": "b"}) == 200
    assert status(headers={"x-goog-api-key": "b"}) == 429
