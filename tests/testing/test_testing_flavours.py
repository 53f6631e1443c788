"""The harness starts the azure and gemini mocks as it starts any provider (its own process,
`python -m mock_providers FLAVOUR`, the ready line, the health check), and the official SDKs
talk to them through `MockProvider.base_url`; a fault set through the harness's control client
shows in each flavour's own shape."""

from __future__ import annotations

import openai
import pytest
from google import genai
from google.genai import errors, types

from harness.testing import MockProvider

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_harness_runs_an_azure_mock() -> None:
    with MockProvider("azure") as mock:
        client = openai.AzureOpenAI(
            azure_endpoint=mock.base_url, api_key="k", api_version="2024-10-21", max_retries=0
        )
        done = client.chat.completions.create(model="prod-gpt", messages=QUESTION)
        with mock.fault("error", status=503), pytest.raises(openai.InternalServerError) as err:
            client.chat.completions.create(model="prod-gpt", messages=QUESTION)
        calls = mock.calls()
    assert done.choices[0].message.content
    assert isinstance(err.value.body, dict) and err.value.body["code"] == "ServiceUnavailable"
    assert [(c["provider"], c["status"]) for c in calls] == [("azure", 200), ("azure", 503)]


def test_harness_runs_a_gemini_mock() -> None:
    with MockProvider("gemini") as mock:
        client = genai.Client(
            api_key="k",
            http_options=types.HttpOptions(
                base_url=mock.base_url, retry_options=types.HttpRetryOptions(attempts=1)
            ),
        )
        done = client.models.generate_content(model="gemini-any", contents="Hello?")
        with mock.fault("rate_limit"), pytest.raises(errors.ClientError) as err:
            client.models.generate_content(model="gemini-any", contents="Hello?")
        calls = mock.calls()
    assert done.text
    assert err.value.code == 429 and err.value.status == "RESOURCE_EXHAUSTED"
    assert [(c["provider"], c["status"]) for c in calls] == [("gemini", 200), ("gemini", 429)]
