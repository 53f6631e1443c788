"""Any model by default: the official SDKs with model ids the mock has never heard of, model
cards that add or override, and `strict_models` for the provider's 404."""

from __future__ import annotations

from collections.abc import Callable

import anthropic
import openai
import pytest
from mockprov_support import Mock

from mock_providers import ModelSpec

Q = [{"role": "user", "content": "What is the capital of France?"}]
TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_openai_sdk_any_model(openai_mock: Mock) -> None:
    with openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=0) as c:
        r = c.chat.completions.create(model="gpt-5", messages=Q)  # type: ignore[arg-type]
        assert r.model == "gpt-5" and "France" in (r.choices[0].message.content or "")
        chunks = list(c.chat.completions.create(model="my-org/ft:42", messages=Q, stream=True))  # type: ignore[call-overload]
        assert chunks and all(ch.model == "my-org/ft:42" for ch in chunks)
        resp = c.responses.create(model="o9-preview", input="What is the capital of France?")
        assert resp.model == "o9-preview" and "France" in resp.output_text
        emb = c.embeddings.create(model="text-embedding-4", input="hello")
        assert len(emb.data[0].embedding) == 1536
        assert c.models.retrieve("gpt-5").id == "gpt-5"
        # The list shows what is configured, not every id ever used.
        assert "gpt-5" not in [m.id for m in c.models.list()]
    assert {row["model"] for row in openai_mock.calls(5)} >= {"gpt-5", "my-org/ft:42"}


def test_anthropic_sdk_any_model(anthropic_mock: Mock) -> None:
    with anthropic.Anthropic(base_url=anthropic_mock.url, api_key="x", max_retries=0) as c:
        m = c.messages.create(model="claude-test", max_tokens=100, messages=Q)  # type: ignore[arg-type]
        assert m.model == "claude-test" and m.content[0].type == "text"
        with c.messages.stream(model="claude-test", max_tokens=100, messages=Q) as s:  # type: ignore[arg-type]
            assert "France" in s.get_final_text()
        tool = c.messages.create(
            model="claude-test",
            max_tokens=100,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=[TOOL],  # type: ignore[list-item]
            tool_choice={"type": "tool", "name": "get_weather"},
        )
        assert tool.stop_reason == "tool_use"
        counted = c.messages.count_tokens(model="claude-test", messages=Q)  # type: ignore[arg-type]
        assert counted.input_tokens == m.usage.input_tokens
        assert c.models.retrieve("claude-test").id == "claude-test"


def test_strict_models_restores_404(make_mock: Callable[..., Mock]) -> None:
    oa = make_mock("openai", strict_models=True)
    with openai.OpenAI(base_url=oa.url + "/v1", api_key="x", max_retries=0) as c:
        with pytest.raises(openai.NotFoundError) as info:
            c.chat.completions.create(model="gpt-nope", messages=Q)  # type: ignore[arg-type]
        assert info.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            c.models.retrieve("gpt-nope")
        assert c.chat.completions.create(model="gpt-4o-mini", messages=Q).choices  # type: ignore[arg-type]
    an = make_mock("anthropic", strict_models=True)
    with anthropic.Anthropic(base_url=an.url, api_key="x", max_retries=0) as c2:
        with pytest.raises(anthropic.NotFoundError) as info2:
            c2.messages.create(model="claude-nope", max_tokens=5, messages=Q)  # type: ignore[arg-type]
        assert info2.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
        with pytest.raises(anthropic.NotFoundError):
            c2.messages.count_tokens(model="claude-nope", messages=Q)  # type: ignore[arg-type]


def test_model_cards_add_and_override(make_mock: Callable[..., Mock]) -> None:
    from mock_providers.core.models import OPENAI_MODELS, merge_models

    cards = merge_models(
        OPENAI_MODELS, (ModelSpec("gpt-4o-mini", 50, 10), ModelSpec("house-model", 64_000, 512))
    )
    mock = make_mock("openai", models=cards)
    with openai.OpenAI(base_url=mock.url + "/v1", api_key="x", max_retries=0) as c:
        ids = [m.id for m in c.models.list()]
        assert "house-model" in ids and ids.count("gpt-4o-mini") == 1
        long_prompt = [{"role": "user", "content": "word " * 200}]
        with pytest.raises(openai.BadRequestError) as info:
            c.chat.completions.create(model="gpt-4o-mini", messages=long_prompt)  # type: ignore[arg-type]
        assert info.value.code == "context_length_exceeded"
        assert c.chat.completions.create(model="house-model", messages=long_prompt).choices  # type: ignore[arg-type]
