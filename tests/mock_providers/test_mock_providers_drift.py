"""Every drift profile produces the client-visible effect recorded in provider-wire.md §3."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from mockprov_support import Mock, start_mock

from mock_providers.core.drift import all_profiles, profile_names

Q = [{"role": "user", "content": "What is the capital of France?"}]
W = [{"role": "user", "content": "Weather in Paris?"}]
O_TOOLS: Any = [
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
A_TOOLS: Any = [
    {
        "name": "get_weather",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def _o_create(c: openai.OpenAI, **kw: Any) -> Any:
    return c.chat.completions.create(model="gpt-4o-mini", messages=kw.pop("messages", Q), **kw)


def _o_stream(c: openai.OpenAI, **kw: Any) -> list[Any]:
    return list(_o_create(c, stream=True, **kw))


def _o_helper(c: openai.OpenAI) -> Any:
    with c.chat.completions.stream(model="gpt-4o-mini", messages=W, tools=O_TOOLS) as s:
        return s.get_final_completion()


# profile → check(client); each asserts what a caller would see.
OPENAI_CHECKS: dict[str, Callable[[openai.OpenAI], None]] = {}
ANTHROPIC_CHECKS: dict[str, Callable[[anthropic.Anthropic], None]] = {}


def o(name: str) -> Callable[[Callable[[openai.OpenAI], None]], Callable[[openai.OpenAI], None]]:
    def register(fn: Callable[[openai.OpenAI], None]) -> Callable[[openai.OpenAI], None]:
        OPENAI_CHECKS[name] = fn
        return fn

    return register


def a(
    name: str,
) -> Callable[[Callable[[anthropic.Anthropic], None]], Callable[[anthropic.Anthropic], None]]:
    def register(
        fn: Callable[[anthropic.Anthropic], None],
    ) -> Callable[[anthropic.Anthropic], None]:
        ANTHROPIC_CHECKS[name] = fn
        return fn

    return register


@o("fenced_json")
def _(c: openai.OpenAI) -> None:
    content = _o_create(c).choices[0].message.content
    assert content.startswith("```json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


@o("missing_usage")
def _(c: openai.OpenAI) -> None:
    assert _o_create(c).usage is None
    chunks = _o_stream(c, stream_options={"include_usage": True})
    assert all(ch.usage is None for ch in chunks) and chunks[-1].choices


@o("usage_renamed")
def _(c: openai.OpenAI) -> None:
    usage = _o_create(c).usage
    assert usage.prompt_tokens is None and usage.model_extra["input_tokens"] > 0


@o("no_choices")
def _(c: openai.OpenAI) -> None:
    r = _o_create(c)
    with pytest.raises(TypeError):
        r.choices[0]


@o("empty_choices")
def _(c: openai.OpenAI) -> None:
    with pytest.raises(IndexError):
        _o_create(c).choices[0]


@o("tool_args_object")
def _(c: openai.OpenAI) -> None:
    args = (
        _o_create(c, messages=W, tools=O_TOOLS).choices[0].message.tool_calls[0].function.arguments
    )
    with pytest.raises(TypeError):
        json.loads(args)
    chunks = _o_stream(c, messages=W, tools=O_TOOLS)
    with pytest.raises(TypeError):
        "".join(
            tc.function.arguments or ""
            for ch in chunks
            for tc in ch.choices[0].delta.tool_calls or []
        )


@o("tool_args_invalid_json")
def _(c: openai.OpenAI) -> None:
    args = (
        _o_create(c, messages=W, tools=O_TOOLS).choices[0].message.tool_calls[0].function.arguments
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(args)


@o("unknown_finish_reason")
def _(c: openai.OpenAI) -> None:
    assert _o_create(c).choices[0].finish_reason == "eos_token"
    assert _o_stream(c)[-1].choices[0].finish_reason == "eos_token"


@o("content_parts")
def _(c: openai.OpenAI) -> None:
    content = _o_create(c).choices[0].message.content
    assert isinstance(content, list) and content[0]["type"] == "text"


@o("legacy_function_call")
def _(c: openai.OpenAI) -> None:
    message = _o_create(c, messages=W, tools=O_TOOLS).choices[0].message
    assert message.tool_calls is None and message.function_call.name == "get_weather"


@o("extra_fields")
def _(c: openai.OpenAI) -> None:
    assert _o_create(c).choices[0].message.model_extra == {"reasoning_content": "thinking..."}


@o("error_in_200")
def _(c: openai.OpenAI) -> None:
    r = _o_create(c)
    assert r.choices is None and r.id is None


@o("html_200")
def _(c: openai.OpenAI) -> None:
    r = _o_create(c)
    assert isinstance(r, str)
    with pytest.raises(AttributeError):
        r.choices  # noqa: B018


@o("stream_no_done")
def _(c: openai.OpenAI) -> None:
    assert _o_stream(c)[-1].choices[0].finish_reason == "stop"


@o("stream_tool_no_index")
def _(c: openai.OpenAI) -> None:
    assert _o_stream(c, messages=W, tools=O_TOOLS)
    with pytest.raises(TypeError):
        _o_helper(c)


@o("stream_event_lines")
def _(c: openai.OpenAI) -> None:
    assert _o_stream(c)[-1].choices[0].finish_reason == "stop"


@o("stream_crlf")
def _(c: openai.OpenAI) -> None:
    chunks = _o_stream(c)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks).startswith("Mock answer")


def _a_create(c: anthropic.Anthropic, **kw: Any) -> Any:
    return c.messages.create(
        model="claude-mock-haiku", max_tokens=200, messages=kw.pop("messages", Q), **kw
    )


def _a_helper(c: anthropic.Anthropic, **kw: Any) -> Any:
    with c.messages.stream(
        model="claude-mock-haiku", max_tokens=200, messages=kw.pop("messages", Q), **kw
    ) as s:
        return s.get_final_message()


@a("tool_input_string")
def _(c: anthropic.Anthropic) -> None:
    block = _a_create(c, messages=W, tools=A_TOOLS).content[-1]
    assert block.input == '{"city":"Paris"}'


@a("missing_usage")
def _(c: anthropic.Anthropic) -> None:
    m = _a_create(c)
    with pytest.raises(AttributeError):
        m.usage.input_tokens  # noqa: B018
    with pytest.raises(AttributeError):
        _a_helper(c)


@a("missing_content")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(TypeError):
        [b.type for b in _a_create(c).content]


@a("unknown_block")
def _(c: anthropic.Anthropic) -> None:
    assert [b.type for b in _a_create(c).content] == ["text", "hologram"]


@a("unknown_stop_reason")
def _(c: anthropic.Anthropic) -> None:
    assert _a_create(c).stop_reason == "galaxy_brain"
    assert _a_helper(c).stop_reason == "galaxy_brain"


@a("content_string")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(AttributeError):
        [b.type for b in _a_create(c).content]


@a("openai_shape")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(TypeError):
        [b.type for b in _a_create(c).content]


@a("extra_fields")
def _(c: anthropic.Anthropic) -> None:
    assert _a_create(c).model_extra["brand_new"] == 1


@a("html_200")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(AttributeError):
        _a_create(c).content  # noqa: B018


@a("stream_data_only")
def _(c: anthropic.Anthropic) -> None:
    assert list(_a_create(c, stream=True)) == []


@a("stream_no_message_stop")
def _(c: anthropic.Anthropic) -> None:
    events = list(_a_create(c, stream=True))
    assert events[-1].type == "content_block_stop"
    assert _a_helper(c).stop_reason is None


@a("stream_no_message_start")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(AssertionError):
        _a_helper(c)


@a("stream_delta_before_start")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(IndexError):
        _a_helper(c)


@a("stream_bad_partial_json")
def _(c: anthropic.Anthropic) -> None:
    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
        _a_helper(c, messages=W, tools=A_TOOLS)


@a("stream_unknown_event")
def _(c: anthropic.Anthropic) -> None:
    assert "galaxy_event" in [e.type for e in _a_create(c, stream=True)]
    assert _a_helper(c).stop_reason == "end_turn"


def test_every_profile_has_a_check() -> None:
    assert set(OPENAI_CHECKS) == set(profile_names("openai"))
    assert set(ANTHROPIC_CHECKS) == set(profile_names("anthropic"))
    assert len(all_profiles()) >= 10


@pytest.fixture(scope="module")
def drift_openai() -> Iterator[tuple[Mock, openai.OpenAI]]:
    mock = start_mock("openai")
    with openai.OpenAI(base_url=mock.url + "/v1", api_key="x", max_retries=0) as c:
        yield mock, c
    mock.close()


@pytest.fixture(scope="module")
def drift_anthropic() -> Iterator[tuple[Mock, anthropic.Anthropic]]:
    mock = start_mock("anthropic")
    with anthropic.Anthropic(base_url=mock.url, api_key="x", max_retries=0) as c:
        yield mock, c
    mock.close()


@pytest.mark.parametrize("profile", sorted(OPENAI_CHECKS))
def test_openai_drift(drift_openai: tuple[Mock, openai.OpenAI], profile: str) -> None:
    mock, client = drift_openai
    mock.add_fault("drift", "drift", profile=profile)
    OPENAI_CHECKS[profile](client)


@pytest.mark.parametrize("profile", sorted(ANTHROPIC_CHECKS))
def test_anthropic_drift(drift_anthropic: tuple[Mock, anthropic.Anthropic], profile: str) -> None:
    mock, client = drift_anthropic
    mock.add_fault("drift", "drift", profile=profile)
    ANTHROPIC_CHECKS[profile](client)
