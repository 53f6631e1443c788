"""Response-format drift profiles: well-formed calls answered in a subtly different shape.

Each profile is a named, documented change to a good reply — renamed or missing fields,
tool-call shape changes, new finish reasons, stream framing changes — with the effect a real
client shows, as recorded in shared/reference/provider-wire.md §3. Clients mostly do *not* raise
on drift; it surfaces later in caller code, which is exactly what a chaos run should reveal.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from mock_providers.core.wire import DONE, HTML_CT, Frame

JSON_CT = b"application/json"

BodyFn = Callable[[dict[str, Any]], Any]
FramesFn = Callable[[list[Frame]], list[Frame]]


@dataclass(frozen=True)
class DriftProfile:
    name: str
    provider: str
    doc: str
    effect: str
    body: BodyFn | None = None
    frames: FramesFn | None = None
    # Applied to every encoded frame (line-ending changes and the like).
    raw: Callable[[bytes], bytes] | None = None


# ---- helpers -----------------------------------------------------------------------------------


def _choice_message(body: dict[str, Any]) -> dict[str, Any] | None:
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        return message if isinstance(message, dict) else None
    return None


def _o_edit(fn: Callable[[dict[str, Any]], None]) -> BodyFn:
    def apply(body: dict[str, Any]) -> Any:
        out = copy.deepcopy(body)
        fn(out)
        return out

    return apply


def _o_fence(body: dict[str, Any]) -> None:
    message = _choice_message(body)
    if message is not None and isinstance(message.get("content"), str):
        message["content"] = (
            "```json\n" + orjson.dumps({"answer": message["content"]}).decode() + "\n```"
        )


def _o_no_usage(body: dict[str, Any]) -> None:
    body.pop("usage", None)


def _o_usage_renamed(body: dict[str, Any]) -> None:
    u = body.get("usage") or {}
    body["usage"] = {
        "input_tokens": u.get("prompt_tokens"),
        "output_tokens": u.get("completion_tokens"),
        "total_tokens": u.get("total_tokens"),
    }


def _o_tool_args(transform: Callable[[str], Any]) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        message = _choice_message(body)
        for call in (message or {}).get("tool_calls") or []:
            call["function"]["arguments"] = transform(call["function"]["arguments"])

    return edit


def _o_finish(body: dict[str, Any]) -> None:
    for choice in body.get("choices") or []:
        choice["finish_reason"] = "eos_token"


def _o_content_parts(body: dict[str, Any]) -> None:
    message = _choice_message(body)
    if message is not None and isinstance(message.get("content"), str):
        message["content"] = [{"type": "text", "text": message["content"]}]


def _o_legacy_function_call(body: dict[str, Any]) -> None:
    message = _choice_message(body)
    if message is not None and message.get("tool_calls"):
        message["function_call"] = message.pop("tool_calls")[0]["function"]
        body["choices"][0]["finish_reason"] = "function_call"


def _o_extra(body: dict[str, Any]) -> None:
    message = _choice_message(body)
    if message is not None:
        message["reasoning_content"] = "thinking..."
    body["provider_specific"] = {"region": "mock-1"}


def _error_in_200(body: dict[str, Any]) -> Any:
    return {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def _html(body: dict[str, Any]) -> Any:
    return b"<html><body><h1>Gateway says hi</h1><p>Maintenance in progress.</p></body></html>"


# stream edits (OpenAI chunks)


def _s_drop_done(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f[1] != DONE]


def _s_no_usage(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for event, payload in frames:
        if isinstance(payload, dict):
            if payload.get("choices") == [] and "usage" in payload:
                continue
            payload = {k: v for k, v in payload.items() if k != "usage"}
        out.append((event, payload))
    return out


def _s_tool_no_index(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for event, payload in frames:
        if isinstance(payload, dict):
            payload = copy.deepcopy(payload)
            for choice in payload.get("choices") or []:
                for tc in choice.get("delta", {}).get("tool_calls") or []:
                    tc.pop("index", None)
        out.append((event, payload))
    return out


def _s_map_chunks(edit: Callable[[dict[str, Any]], None]) -> FramesFn:
    def apply(frames: list[Frame]) -> list[Frame]:
        out: list[Frame] = []
        for event, payload in frames:
            if isinstance(payload, dict):
                payload = copy.deepcopy(payload)
                edit(payload)
            out.append((event, payload))
        return out

    return apply


def _s_finish(chunk: dict[str, Any]) -> None:
    for choice in chunk.get("choices") or []:
        if choice.get("finish_reason"):
            choice["finish_reason"] = "eos_token"


def _s_args_object(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    args_seen = False
    for event, payload in frames:
        if isinstance(payload, dict):
            payload = copy.deepcopy(payload)
            for choice in payload.get("choices") or []:
                for tc in choice.get("delta", {}).get("tool_calls") or []:
                    fn = tc.get("function", {})
                    if fn.get("arguments"):
                        if args_seen:
                            fn["arguments"] = ""
                        else:
                            fn["arguments"] = {"partial": fn["arguments"]}
                            args_seen = True
        out.append((event, payload))
    return out


def _s_event_lines(frames: list[Frame]) -> list[Frame]:
    return [("message" if p != DONE else None, p) for _, p in frames]


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


# ---- Anthropic ---------------------------------------------------------------------------------


def _a_input_string(body: dict[str, Any]) -> None:
    for block in body.get("content") or []:
        if block.get("type") == "tool_use":
            block["input"] = orjson.dumps(block["input"]).decode()


def _a_unknown_block(body: dict[str, Any]) -> None:
    body.setdefault("content", []).append({"type": "hologram", "data": "..."})


def _a_unknown_stop(body: dict[str, Any]) -> None:
    body["stop_reason"] = "galaxy_brain"


def _a_content_string(body: dict[str, Any]) -> None:
    texts = [b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text"]
    body["content"] = "".join(texts)


def _a_openai_shape(body: dict[str, Any]) -> Any:
    texts = [b.get("text", "") for b in body.get("content") or [] if b.get("type") == "text"]
    usage = body.get("usage") or {}
    return {
        "id": "chatcmpl-" + str(body.get("id", ""))[4:],
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "".join(texts)},
            }
        ],
        "usage": {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
        },
    }


def _a_extra(body: dict[str, Any]) -> None:
    body["brand_new"] = 1
    body["container"] = None


def _as_drop(*types: str) -> FramesFn:
    def apply(frames: list[Frame]) -> list[Frame]:
        return [f for f in frames if f[0] not in types]

    return apply


def _as_data_only(frames: list[Frame]) -> list[Frame]:
    return [(None, p) for _, p in frames]


def _as_no_usage_delta(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for event, payload in frames:
        if event == "message_delta":
            payload = {k: v for k, v in payload.items() if k != "usage"}
        out.append((event, payload))
    return out


def _as_delta_before_start(frames: list[Frame]) -> list[Frame]:
    out = list(frames)
    for i, (event, _) in enumerate(out):
        if event == "content_block_start":
            del out[i]
            break
    return out


def _as_bad_partial_json(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for event, payload in frames:
        if event == "content_block_delta" and payload["delta"].get("type") == "input_json_delta":
            payload = copy.deepcopy(payload)
            payload["delta"]["partial_json"] = payload["delta"]["partial_json"].replace('"', "'")
        out.append((event, payload))
    return out


def _as_unknown_event(frames: list[Frame]) -> list[Frame]:
    out = list(frames)
    out.insert(1, ("galaxy_event", {"type": "galaxy_event", "note": "new in this version"}))
    return out


def _as_stop_reason(frames: list[Frame]) -> list[Frame]:
    out: list[Frame] = []
    for event, payload in frames:
        if event == "message_delta":
            payload = copy.deepcopy(payload)
            payload["delta"]["stop_reason"] = "galaxy_brain"
        out.append((event, payload))
    return out


_PROFILES = (
    # OpenAI
    DriftProfile(
        "fenced_json",
        "openai",
        "message content wrapped in a ```json fence",
        "caller `json.loads(content)` raises JSONDecodeError",
        body=_o_edit(_o_fence),
    ),
    DriftProfile(
        "missing_usage",
        "openai",
        "no `usage` (streams: no usage chunk, no usage keys)",
        "`completion.usage` is None; LiteLLM reports zeros / estimates",
        body=_o_edit(_o_no_usage),
        frames=_s_no_usage,
    ),
    DriftProfile(
        "usage_renamed",
        "openai",
        "`usage` with Anthropic-style `input_tokens` / `output_tokens`",
        "`usage.prompt_tokens` is None, new names in extras",
        body=_o_edit(_o_usage_renamed),
    ),
    DriftProfile(
        "no_choices",
        "openai",
        "no `choices` key",
        "`choices` is None; caller `.choices[0]` raises TypeError",
        body=_o_edit(lambda b: b.pop("choices", None)),
    ),
    DriftProfile(
        "empty_choices",
        "openai",
        "`choices: []`",
        "caller `.choices[0]` raises IndexError",
        body=_o_edit(lambda b: b.__setitem__("choices", [])),
    ),
    DriftProfile(
        "tool_args_object",
        "openai",
        "tool `arguments` as a JSON object, not a string",
        "caller `json.loads(arguments)` raises TypeError; streamed: concatenation TypeError",
        body=_o_edit(_o_tool_args(lambda a: orjson.loads(a))),
        frames=_s_args_object,
    ),
    DriftProfile(
        "tool_args_invalid_json",
        "openai",
        "tool `arguments` cut mid-string",
        "caller `json.loads(arguments)` raises JSONDecodeError",
        body=_o_edit(_o_tool_args(lambda a: a[: max(1, len(a) // 2)])),
    ),
    DriftProfile(
        "unknown_finish_reason",
        "openai",
        '`finish_reason: "eos_token"`',
        "passes through unvalidated (LiteLLM maps it to `stop`)",
        body=_o_edit(_o_finish),
        frames=_s_map_chunks(_s_finish),
    ),
    DriftProfile(
        "content_parts",
        "openai",
        "`content` as a list of text parts",
        "`message.content` is a list; string handling in the caller breaks",
        body=_o_edit(_o_content_parts),
    ),
    DriftProfile(
        "legacy_function_call",
        "openai",
        "legacy `function_call` instead of `tool_calls`",
        "`message.tool_calls` is None; `function_call` set",
        body=_o_edit(_o_legacy_function_call),
    ),
    DriftProfile(
        "extra_fields",
        "openai",
        "unknown extra fields (`reasoning_content`, …)",
        "tolerated: kept in `model_extra`",
        body=_o_edit(_o_extra),
    ),
    DriftProfile(
        "error_in_200",
        "openai",
        '200 with an `{"error": …}` body',
        "SDK returns an empty ChatCompletion (all None), no exception",
        body=_error_in_200,
    ),
    DriftProfile(
        "html_200",
        "openai",
        "200 `text/html` page",
        "SDK returns a `str`; caller AttributeError",
        body=_html,
    ),
    DriftProfile(
        "stream_no_done",
        "openai",
        "stream without `data: [DONE]`",
        "tolerated (clean end)",
        frames=_s_drop_done,
    ),
    DriftProfile(
        "stream_tool_no_index",
        "openai",
        "streamed tool-call deltas without `index`",
        "raw chunks fine; `.stream()` helper raises TypeError",
        frames=_s_tool_no_index,
    ),
    DriftProfile(
        "stream_event_lines",
        "openai",
        "`event: message` lines on chat stream frames",
        "tolerated",
        frames=_s_event_lines,
    ),
    DriftProfile(
        "stream_crlf", "openai", "CRLF line endings in the stream", "tolerated", raw=_crlf
    ),
    # Anthropic
    DriftProfile(
        "tool_input_string",
        "anthropic",
        "`tool_use.input` as a JSON string",
        "kept as str silently (LiteLLM double-encodes it)",
        body=_o_edit(_a_input_string),
    ),
    DriftProfile(
        "missing_usage",
        "anthropic",
        "no `usage` (streams: `message_delta` without usage)",
        "`message.usage` is None → caller AttributeError; stream helper AttributeError",
        body=_o_edit(_o_no_usage),
        frames=_as_no_usage_delta,
    ),
    DriftProfile(
        "missing_content",
        "anthropic",
        "no `content`",
        "`content` is None; iterating it raises TypeError",
        body=_o_edit(lambda b: b.pop("content", None)),
    ),
    DriftProfile(
        "unknown_block",
        "anthropic",
        "an unknown content block type",
        "kept as a block of unknown type",
        body=_o_edit(_a_unknown_block),
    ),
    DriftProfile(
        "unknown_stop_reason",
        "anthropic",
        '`stop_reason: "galaxy_brain"`',
        "passes through (LiteLLM maps it to `stop`)",
        body=_o_edit(_a_unknown_stop),
        frames=_as_stop_reason,
    ),
    DriftProfile(
        "content_string",
        "anthropic",
        "`content` as a plain string",
        "caller `block.type` raises AttributeError",
        body=_o_edit(_a_content_string),
    ),
    DriftProfile(
        "openai_shape",
        "anthropic",
        "an OpenAI chat.completion body",
        "`content` is None; iterating it raises TypeError",
        body=_a_openai_shape,
    ),
    DriftProfile(
        "extra_fields", "anthropic", "unknown extra fields", "tolerated", body=_o_edit(_a_extra)
    ),
    DriftProfile(
        "html_200",
        "anthropic",
        "200 `text/html` page",
        "SDK returns a `str`; caller AttributeError",
        body=_html,
    ),
    DriftProfile(
        "stream_data_only",
        "anthropic",
        "stream frames without `event:` lines",
        "the SDK ignores every frame: 0 events, no error",
        frames=_as_data_only,
    ),
    DriftProfile(
        "stream_no_message_stop",
        "anthropic",
        "stream ends after the content blocks (no `message_delta` / `message_stop`)",
        "raw stream ends OK; helper's final message has `stop_reason` None",
        frames=_as_drop("message_delta", "message_stop"),
    ),
    DriftProfile(
        "stream_no_message_start",
        "anthropic",
        "stream without `message_start`",
        "stream helper raises AssertionError",
        frames=_as_drop("message_start"),
    ),
    DriftProfile(
        "stream_delta_before_start",
        "anthropic",
        "first `content_block_start` missing",
        "stream helper raises IndexError",
        frames=_as_delta_before_start,
    ),
    DriftProfile(
        "stream_bad_partial_json",
        "anthropic",
        "invalid `input_json_delta` JSON",
        'stream helper raises ValueError ("Unable to parse tool parameter JSON")',
        frames=_as_bad_partial_json,
    ),
    DriftProfile(
        "stream_unknown_event",
        "anthropic",
        "an unknown event type in the stream",
        "tolerated",
        frames=_as_unknown_event,
    ),
)

PROFILES: dict[tuple[str, str], DriftProfile] = {(p.provider, p.name): p for p in _PROFILES}


def profile_names(provider: str) -> tuple[str, ...]:
    return tuple(p.name for p in _PROFILES if p.provider == provider)


def all_profiles() -> tuple[DriftProfile, ...]:
    return _PROFILES


def apply_body_drift(provider: str, name: str, body: dict[str, Any]) -> tuple[bytes, bytes]:
    """(content type, bytes) of `body` under drift profile `name` (unchanged if stream-only)."""
    profile = PROFILES[(provider, name)]
    out: Any = body if profile.body is None else profile.body(body)
    if isinstance(out, bytes):
        return HTML_CT, out
    return JSON_CT, orjson.dumps(out)


def apply_frame_drift(
    provider: str, name: str, frames: list[Frame], encode: Callable[[Frame], bytes]
) -> list[bytes] | None:
    """Encoded frames under drift profile `name`; None when it has no stream effect."""
    profile = PROFILES[(provider, name)]
    if profile.frames is None and profile.raw is None:
        return None
    if profile.frames is not None:
        frames = profile.frames(frames)
    encoded = [encode(f) for f in frames]
    if profile.raw is not None:
        encoded = [profile.raw(e) for e in encoded]
    return encoded
