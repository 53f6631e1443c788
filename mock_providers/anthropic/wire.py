"""Anthropic Messages wire format: request parsing, message bodies, stream events, errors.

Follows shared/reference/provider-wire.md §2.6-2.7: `tool_use.input` is an object (not a
string), streams carry both `event:` and `data:` lines, errors are
`{"type": "error", "error": {...}, "request_id": ...}` and 529 means overloaded.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from mock_providers.core.models import ModelSpec
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import (
    ChatRequest,
    Frame,
    Reply,
    ToolSpec,
    WireError,
    encode_frame,
    new_id,
    text_of,
)

_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "refusal": "refusal",
    "content_filter": "refusal",
}

_ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found."),
    408: ("timeout_error", "Request timed out."),
    409: ("invalid_request_error", "Conflict."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    422: ("invalid_request_error", "Unprocessable entity."),
    429: ("rate_limit_error", "Rate limited."),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

_KINDS = {
    "invalid_request": "invalid_request_error",
    "not_found": "not_found_error",
    "context_length": "invalid_request_error",
    "too_large": "request_too_large",
    "unknown_url": "not_found_error",
    "method": "invalid_request_error",
    "server_error": "api_error",
}


def _bad(message: str) -> WireError:
    return WireError(400, message)


def _parse_messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    messages = payload.get("messages")
    if messages is None:
        raise _bad("messages: Field required")
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"messages.{i}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            raise _bad(f"messages.{i}.content: Field required")
        if not isinstance(content, str | list):
            raise _bad(f"messages.{i}.content: Input should be a valid list")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise _bad(
                        f"messages.{i}.content.{j}: Input should be a valid dictionary "
                        "or object to extract fields from"
                    )
    return messages


def parse_model(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise _bad("Input should be a valid dictionary")
    model = payload.get("model")
    if model is None:
        raise _bad("model: Field required")
    if not isinstance(model, str):
        raise _bad("model: Input should be a valid string")
    return model


def count_input_tokens(payload: dict[str, Any], tokenizer: TokenizerProfile) -> int:
    messages = _parse_messages(payload)
    system = payload.get("system")
    return tokenizer.count_messages(messages, [system, payload.get("tools")])


def parse_messages_request(payload: Any, tokenizer: TokenizerProfile) -> ChatRequest:
    """Validate a `/v1/messages` body the way the API does; `WireError` if bad."""
    model = parse_model(payload)
    messages = _parse_messages(payload)
    max_tokens = payload.get("max_tokens")
    if max_tokens is None:
        raise _bad("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    if not messages:
        raise _bad("messages: at least one message is required")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: Input should be a valid boolean")
    tools = _parse_tools(payload.get("tools"))
    forced, disabled = _tool_choice(payload.get("tool_choice"), tools)
    question = ""
    for message in reversed(messages):
        if message["role"] == "user":
            content = message["content"]
            if isinstance(content, list):
                texts = [b.get("text", "") for b in content if b.get("type") == "text"]
                if texts:
                    question = "\n".join(t for t in texts if isinstance(t, str))
                    break
                continue
            question = content
            break
    last = messages[-1]
    content = last["content"]
    results = (
        [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
    )
    thinking = _thinking(payload.get("thinking"), max_tokens)
    return ChatRequest(
        model=model,
        question=question,
        thinking=thinking,
        tokens_in=count_input_tokens(payload, tokenizer),
        max_tokens=max_tokens,
        stream=stream,
        include_usage=True,
        tools=tools,
        forced_tool=forced,
        tools_disabled=disabled,
        after_tool_result=bool(results) and last["role"] == "user",
        tool_result_text=text_of(results),
    )


def _thinking(raw: Any, max_tokens: int) -> bool:
    """Whether extended thinking is on; the API's own checks on `budget_tokens`."""
    if raw is None:
        return False
    if not isinstance(raw, dict) or raw.get("type") not in ("enabled", "disabled"):
        raise _bad(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'"
        )
    if raw["type"] == "disabled":
        return False
    budget = raw.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise _bad("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens <= budget:
        raise _bad(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult "
            "our documentation at https://docs.claude.com/en/docs/build-with-claude/"
            "extended-thinking#max-tokens-and-context-window-size"
        )
    return True


def _parse_tools(raw: Any) -> list[ToolSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad("tools: Input should be a valid list")
    out: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _bad(f"tools.{i}.name: Field required")
        if "input_schema" not in tool and "type" not in tool:
            raise _bad(f"tools.{i}.custom.input_schema: Field required")
        out.append(ToolSpec(tool["name"], tool.get("input_schema")))
    return out


def _tool_choice(raw: Any, tools: list[ToolSpec]) -> tuple[str | None, bool]:
    if raw is None:
        return None, False
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "any", "tool", "none"):
        raise _bad(
            "tool_choice: Input tag does not match any of the expected tags: 'auto', "
            "'any', 'tool', 'none'"
        )
    if raw["type"] == "none":
        return None, True
    if raw["type"] == "tool":
        name = raw.get("name")
        if not any(t.name == name for t in tools):
            raise _bad(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")
        return str(name), False
    return None, False


def _usage(tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "input_tokens": tokens_in,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": tokens_out,
        "service_tier": "standard",
    }


def _signature(thinking: str) -> str:
    # Real signatures are opaque base64; a hash keeps ours stable and just as opaque.
    return base64.b64encode(hashlib.blake2b(thinking.encode(), digest_size=48).digest()).decode()


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking is not None:
        blocks.append(
            {
                "type": "thinking",
                "thinking": reply.thinking,
                "signature": _signature(reply.thinking),
            }
        )
    if reply.tool_name is not None:
        blocks.append({"type": "text", "text": f"I'll use the {reply.tool_name} tool."})
        blocks.append(
            {
                "type": "tool_use",
                "id": reply.tool_id,
                "name": reply.tool_name,
                "input": reply.tool_args or {},
            }
        )
    elif reply.text:
        blocks.append({"type": "text", "text": reply.text})
    return blocks


def message_body(mid: str, model: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply),
        "stop_reason": _STOP.get(reply.finish, reply.finish),
        "stop_sequence": None,
        "usage": _usage(reply.tokens_in, reply.tokens_out),
    }


def _block_events(index: int, block: dict[str, Any], deltas: list[dict[str, Any]]) -> list[Frame]:
    """`content_block_start`, its deltas, `content_block_stop`."""
    events: list[Frame] = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
    ]
    events.extend(
        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
        for d in deltas
    )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def message_events(mid: str, model: str, reply: Reply) -> list[Frame]:
    """The full event sequence of a streamed message, `message_start` to `message_stop`."""
    start = message_body(mid, model, reply)
    start.update(content=[], stop_reason=None, usage=_usage(reply.tokens_in, 1))
    events: list[Frame] = [("message_start", {"type": "message_start", "message": start})]
    blocks = _blocks(reply)
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "thinking":
            text = block["thinking"]
            deltas = [
                {"type": "thinking_delta", "thinking": text[i : i + 16]}
                for i in range(0, len(text), 16)
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
            events += _block_events(
                index, {"type": "thinking", "thinking": "", "signature": ""}, deltas
            )
        elif kind == "text":
            pieces = (
                reply.pieces if reply.tool_name is None else [block["text"][:8], block["text"][8:]]
            )
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
            events += _block_events(index, {"type": "text", "text": ""}, deltas)
        else:  # tool_use: the input arrives as JSON text slices (the first may be empty)
            args = orjson.dumps(block["input"]).decode()
            slices = [""] + [args[i : i + 8] for i in range(0, len(args), 8)]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in slices]
            events += _block_events(index, {**block, "input": {}}, deltas)
    # The API pings early in every stream, right after the first block starts.
    events.insert(2 if blocks else 1, ("ping", {"type": "ping"}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": _STOP.get(reply.finish, reply.finish),
                    "stop_sequence": None,
                },
                "usage": {
                    "input_tokens": reply.tokens_in,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": reply.tokens_out,
                },
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def error_body(etype: str, message: str) -> bytes:
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": etype, "message": message},
            "request_id": new_id("req_", 12),
        }
    )


def models_page(models: tuple[ModelSpec, ...]) -> dict[str, Any]:
    data = [model_object(m) for m in models if m.kind == "chat"]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def model_object(m: ModelSpec) -> dict[str, Any]:
    created = datetime.fromtimestamp(m.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": "model",
        "id": m.id,
        "display_name": m.display_name or m.id,
        "created_at": created,
    }


class AnthropicFormat:
    """`ChatFormat` for the Anthropic Messages API."""

    provider = "anthropic"
    safety_status = 400

    def wire_error(self, err: WireError) -> bytes:
        etype = _KINDS.get(err.kind) or _ERROR_TYPES.get(err.status, ("api_error", ""))[0]
        return error_body(etype, err.message)

    def bad_json(self) -> WireError:
        return WireError(
            400,
            "There was an error parsing the body of your request as JSON. "
            "Please check that the body is valid JSON.",
        )

    def status_error(self, status: int, message: str) -> bytes:
        etype, text = _ERROR_TYPES.get(
            status,
            ("api_error", "Internal server error")
            if status >= 500
            else ("invalid_request_error", f"status {status}"),
        )
        return error_body(etype, message or text)

    def model_not_found(self, model: str) -> WireError:
        return WireError(404, f"model: {model}", kind="not_found")

    def model_deprecated(self, model: str) -> WireError:
        return WireError(
            404,
            f"model: {model} has been retired and is no longer available. "
            "Please use a newer model.",
            kind="not_found",
        )

    def context_length(self, window: int, tokens: int) -> WireError:
        return WireError(
            400, f"prompt is too long: {tokens} tokens > {window} maximum", kind="context_length"
        )

    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]:
        what = "request tokens" if kind == "tokens" else "requests"
        return 429, error_body(
            "rate_limit_error",
            f"This request would exceed the rate limit for your organization of {limit} "
            f"{what} per minute. For details, refer to: https://docs.claude.com/en/api/"
            "rate-limits. You can see the response headers for current usage. Please reduce "
            "the prompt length or the maximum tokens requested, or try again later.",
        )

    def safety_400(self) -> bytes:
        return error_body("invalid_request_error", "Output blocked by content filtering policy")

    def tool_id(self) -> str:
        return new_id("toolu_", 12)

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        return message_body(new_id("msg_", 12), model, reply)

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        return message_events(new_id("msg_", 12), model, reply)

    def body_frames(self, frames: list[Frame]) -> int:
        for i, (event, _) in enumerate(frames):
            if event in ("message_delta", "message_stop"):
                return i
        return len(frames)

    def encode(self, frame: Frame) -> bytes:
        return encode_frame(frame)

    def error_frame(self, error_type: str) -> bytes:
        etype = error_type or "overloaded_error"
        message = "Overloaded" if etype == "overloaded_error" else etype
        return encode_frame(
            ("error", {"type": "error", "error": {"type": etype, "message": message}})
        )

    def malformed_frame(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0,\n\n'
