"""OpenAI legacy `/v1/completions` (plain and streamed) through `client.completions.create`."""

from __future__ import annotations

import openai
from mockprov_support import Mock


def test_legacy_completions_plain_stream_and_default_length(openai_mock: Mock) -> None:
    with openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="k", max_retries=0) as client:
        done = client.completions.create(
            model="gpt-3.5-turbo-instruct", prompt="What is the capital of France?", max_tokens=200
        )
        chunks = list(
            client.completions.create(
                model="my-vllm-model",
                prompt="What is the capital of France?",
                max_tokens=200,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        # The endpoint's own default is 16 output tokens: an unbounded answer stops at it.
        default = client.completions.create(model="m", prompt="Tell me a long story " * 5)
        bad = openai_mock.http.post("/v1/completions", json={"model": "m"})
    assert done.object == "text_completion" and done.choices[0].text
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens > 0
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == done.choices[0].text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == done.usage.completion_tokens
    assert default.choices[0].finish_reason == "length"
    assert default.usage is not None and default.usage.completion_tokens == 16
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt"
    calls = openai_mock.calls(4)
    assert {c["endpoint"] for c in calls} == {"/v1/completions"}
    assert [c["stream"] for c in calls[:2]] == [False, True]
    assert calls[1]["stream_completed"]
