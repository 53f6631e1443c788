"""LiteLLM against the mocks with model ids they have never heard of (fault-free checks)."""

from __future__ import annotations

import os
import warnings

import pytest
from mockprov_support import Mock

# LiteLLM fetches its model price map from GitHub at import unless told not to: the tests send
# traffic to 127.0.0.1 only.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # LiteLLM's own import-time deprecation warnings
    litellm = pytest.importorskip("litellm")

# Importing LiteLLM alone takes seconds of CPU; its lazy imports warn as calls run.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]
Q = [{"role": "user", "content": "What is the capital of France?"}]


def test_litellm_openai_and_anthropic_routes_any_model(
    openai_mock: Mock, anthropic_mock: Mock
) -> None:
    r = litellm.completion(
        model="openai/gpt-5", api_base=openai_mock.url + "/v1", api_key="x", messages=Q
    )
    assert "France" in r.choices[0].message.content
    a = litellm.completion(
        model="anthropic/claude-test",
        api_base=anthropic_mock.url,
        api_key="x",
        messages=Q,
        max_tokens=50,
    )
    assert "France" in a.choices[0].message.content
    stream = litellm.completion(
        model="anthropic/claude-test",
        api_base=anthropic_mock.url,
        api_key="x",
        messages=Q,
        max_tokens=50,
        stream=True,
    )
    assert "France" in "".join(c.choices[0].delta.content or "" for c in stream)
    models = {row["model"] for row in openai_mock.calls(1) + anthropic_mock.calls(2)}
    assert models == {"gpt-5", "claude-test"}


def test_litellm_azure_and_gemini_routes_any_model(make_mock: object) -> None:
    azure: Mock = make_mock("azure")  # type: ignore[operator]
    gemini: Mock = make_mock("gemini")  # type: ignore[operator]
    r = litellm.completion(
        model="azure/my-deployment",
        api_base=azure.url,
        api_key="x",
        api_version="2024-10-21",
        messages=Q,
    )
    assert "France" in r.choices[0].message.content
    stream = litellm.completion(
        model="azure/my-deployment",
        api_base=azure.url,
        api_key="x",
        api_version="2024-10-21",
        messages=Q,
        stream=True,
    )
    assert "France" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    g = litellm.completion(
        # LiteLLM appends /models/{model}:generateContent to api_base (its default ends in /v1beta).
        model="gemini/gemini-test",
        api_base=gemini.url + "/v1beta",
        api_key="x",
        messages=Q,
    )
    assert "France" in g.choices[0].message.content
    assert {row["model"] for row in azure.calls(2)} == {"my-deployment"}
    assert {row["model"] for row in gemini.calls(1)} == {"gemini-test"}
