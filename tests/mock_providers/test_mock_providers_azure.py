"""Flavour `azure` through the official `openai` SDK's `AzureOpenAI` client: deployment routes
with api-version, `api-key` auth, content-filter annotations, Azure's 429 and error bodies."""

from __future__ import annotations

import httpx
import openai
import pytest
from mockprov_support import Mock

VERSION = "2024-10-21"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def azure_mock(make_mock: object) -> Mock:
    return make_mock("azure")  # type: ignore[operator, no-any-return]


def _client(mock: Mock, **kwargs: object) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=mock.url,
        api_key="azure-key",
        api_version=VERSION,
        **kwargs,  # type: ignore[arg-type]
    )


def test_chat_through_a_deployment_with_filter_results(azure_mock: Mock) -> None:
    with _client(azure_mock, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="my-gpt4o-deployment", messages=QUESTION
        )
        done = raw.parse()
    assert done.choices[0].message.content and done.choices[0].finish_reason == "stop"
    body = raw.http_response.json()
    assert body["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    assert body["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    headers = raw.http_response.headers
    assert headers["apim-request-id"] == headers["x-request-id"]
    assert "x-ratelimit-remaining-requests" in headers
    (call,) = azure_mock.calls(1)
    assert call["provider"] == "azure"
    assert call["endpoint"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert call["model"] == "my-gpt4o-deployment" and call["status"] == 200


def test_stream_starts_with_the_prompt_filter_frame(azure_mock: Mock) -> None:
    with _client(azure_mock, max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=QUESTION,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[0].choices == [] and chunks[0].model_extra is not None
    assert chunks[0].model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    (call,) = azure_mock.calls(1)
    assert call["stream"] and call["stream_completed"]


def test_embeddings_and_legacy_completions_on_deployments(azure_mock: Mock) -> None:
    with _client(azure_mock, max_retries=0) as client:
        emb = client.embeddings.create(model="embeddings", input="hello")
        legacy = client.completions.create(model="instruct", prompt="Say hello")
    assert len(emb.data[0].embedding) > 0
    assert legacy.object == "text_completion" and legacy.choices[0].text
    endpoints = [c["endpoint"] for c in azure_mock.calls(2)]
    assert endpoints == [
        "/openai/deployments/embeddings/embeddings",
        "/openai/deployments/instruct/completions",
    ]


def test_v1_routes_take_bearer_and_no_api_version(azure_mock: Mock) -> None:
    with openai.OpenAI(base_url=azure_mock.url + "/openai/v1/", api_key="k", max_retries=0) as c:
        done = c.chat.completions.create(model="gpt-4o", messages=QUESTION)
        models = c.models.list()
    assert done.choices[0].message.content
    assert any(m.id == "gpt-4o" for m in models)


def test_front_door_refusals(azure_mock: Mock) -> None:
    path = "/openai/deployments/d/chat/completions"
    body = {"messages": QUESTION}
    no_version = azure_mock.http.post(path, json=body, headers={"api-key": "k"})
    assert no_version.status_code == 404
    assert no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
    no_key = azure_mock.http.post(path, params={"api-version": VERSION}, json=body)
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "401"
    # The same body with both is served: the refusals were not replayed from a cache.
    ok = azure_mock.http.post(
        path, params={"api-version": VERSION}, json=body, headers={"api-key": "k"}
    )
    assert ok.status_code == 200 and ok.json()["model"] == "d"
    with _client(azure_mock, max_retries=0) as client, pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="x", messages=QUESTION, extra_query={"api-version": "bad"}
        )


def test_429_is_azures_and_the_sdk_retries_as_documented(azure_mock: Mock) -> None:
    r = azure_mock.http.post(
        "/_brownout/faults",
        json={"name": "rl", "type": "rate_limit", "first": 1, "params": {"retry_after_s": 0.2}},
    )
    assert r.status_code == 201, r.text
    seen: list[httpx.Response] = []
    with _client(
        azure_mock, max_retries=2, http_client=httpx.Client(event_hooks={"response": [seen.append]})
    ) as client:
        done = client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert done.choices[0].message.content
    first = seen[0]
    assert first.status_code == 429
    assert first.headers["retry-after-ms"] == "200" and first.headers["retry-after"] == "0.2"
    error = first.json()["error"]
    assert error["code"] == "429" and "Please retry after 1 second." in error["message"]
    assert "ChatCompletions_Create Operation under Azure OpenAI API" in error["message"]
    calls = azure_mock.calls(2)
    assert [c["status"] for c in calls] == [429, 200]
    assert [c["retry_count"] for c in calls] == [0, 1]
    assert calls[0]["retry_after_s"] == pytest.approx(0.2)


def test_safety_fault_in_azures_shapes(azure_mock: Mock) -> None:
    azure_mock.add_fault("block", "safety", mode="azure_400")
    with _client(azure_mock, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as err:
            client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
        assert err.value.code == "content_filter"
        azure_mock.clear_faults()
        azure_mock.add_fault("filter", "safety", mode="content_filter")
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=QUESTION
        )
    done = raw.parse()
    assert done.choices[0].finish_reason == "content_filter"
    results = raw.http_response.json()["choices"][0]["content_filter_results"]
    assert results["violence"] == {"filtered": True, "severity": "medium"}


def test_unknown_deployment_when_strict(make_mock: object) -> None:
    mock = make_mock("azure", strict_models=True)  # type: ignore[operator]
    with _client(mock, max_retries=0) as client, pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="nope", messages=QUESTION)
    assert err.value.code == "DeploymentNotFound"
