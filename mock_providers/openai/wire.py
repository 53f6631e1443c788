"""OpenAI wire format: request parsing, response bodies, stream chunks, error bodies.

Field names, nesting and wording follow the real API (shared/reference/provider-wire.md §2.1-2.5)
because clients, LiteLLM in particular, classify errors by their text.
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

import orjson

from mock_providers.core.models import ModelSpec
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import (
    DONE,
    ChatRequest,
    Frame,
    Reply,
    ToolSpec,
    WireError,
    encode_frame,
    new_id,
    text_of,
)

JSON_CT = b"application/json"

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _bad(message: str, param: str | None = None, code: str | None = None) -> WireError:
    return WireError(400, message, param=param, code=code)


def parse_chat_request(payload: Any, tokenizer: TokenizerProfile) -> ChatRequest:
    """Validate a `/v1/chat/completions` body the way the API does; `WireError` if bad."""
    if not isinstance(payload, dict):
        raise _bad("Invalid type for request body: expected an object.")
    model = payload.get("model")
    if model is None:
        raise _bad("you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise _bad("Invalid type for 'model': expected a string.", "model", "invalid_type")
    messages = payload.get("messages")
    if messages is None:
        raise _bad(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise _bad("Invalid type for 'messages': expected an array.", "messages", "invalid_type")
    if not messages:
        raise _bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"Invalid type for 'messages[{i}]': expected an object.", f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            raise _bad(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _bad(
                f"Invalid type for 'messages[{i}].content': expected one of a string or array.",
                f"messages[{i}].content",
                "invalid_type",
            )
        if content is None and role in ("user", "system", "developer"):
            raise _bad(f"Missing required parameter: 'messages[{i}].content'.", f"messages[{i}]")
    max_tokens = payload.get("max_completion_tokens", payload.get("max_tokens"))
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _bad(
            f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got "
            f"{max_tokens!r} instead.",
            "max_tokens",
            "integer_below_min_value",
        )
    stream = payload.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    stream_options = payload.get("stream_options")
    if stream_options is not None and not stream:
        raise _bad(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    tools = _parse_tools(payload.get("tools"))
    forced, disabled = _tool_choice(payload.get("tool_choice"), tools)
    question = ""
    for message in reversed(messages):
        if message.get("role") == "user":
            question = text_of(message.get("content"))
            break
    last = messages[-1]
    after_tool = last.get("role") in ("tool", "function")
    return ChatRequest(
        model=model,
        question=question,
        tokens_in=tokenizer.count_messages(messages, payload.get("tools")),
        max_tokens=max_tokens,
        stream=bool(stream),
        include_usage=include_usage,
        tools=tools,
        forced_tool=forced,
        tools_disabled=disabled,
        after_tool_result=after_tool,
        tool_result_text=text_of(last.get("content")) if after_tool else "",
    )


def _parse_tools(raw: Any) -> list[ToolSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    tools: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        fn = tool.get("function") if isinstance(tool, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str) or not name:
            raise _bad(f"Missing required parameter: 'tools[{i}].function.name'.", f"tools[{i}]")
        tools.append(ToolSpec(name, fn.get("parameters") if isinstance(fn, dict) else None))
    return tools


def _tool_choice(raw: Any, tools: list[ToolSpec]) -> tuple[str | None, bool]:
    if raw is None or raw in ("auto", "required"):
        return None, False
    if raw == "none":
        return None, True
    if isinstance(raw, dict):
        fn = raw.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and any(t.name == name for t in tools):
            return name, False
    raise _bad("Invalid value for 'tool_choice'.", "tool_choice", "invalid_value")


@functools.lru_cache(maxsize=1024)
def system_fingerprint(model: str) -> str:
    return "fp_" + hashlib.blake2b(model.encode(), digest_size=5).hexdigest()


def usage(tokens_in: int, tokens_out: int) -> dict[str, Any]:
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(reply: Reply) -> str:
    if reply.finish == "refusal":
        return "stop"
    return reply.finish


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    args = orjson.dumps(reply.tool_args or {}).decode()
    return [
        {
            "id": reply.tool_id,
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": args},
        }
    ]


def chat_completion(cid: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """A non-streaming `chat.completion` object."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": reply.refusal,
        "annotations": [],
    }
    if reply.tool_name is not None:
        message["tool_calls"] = _tool_calls(reply)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(reply),
            }
        ],
        "usage": usage(reply.tokens_in, reply.tokens_out),
        "service_tier": "default",
        "system_fingerprint": system_fingerprint(model),
    }


def chat_chunks(
    cid: str, created: int, model: str, reply: Reply, include_usage: bool
) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a stream, in order (without `[DONE]`)."""
    base = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": system_fingerprint(model),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            out["usage"] = None
        return out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    if reply.tool_name is not None:
        args = orjson.dumps(reply.tool_args or {}).decode()
        first = {
            "index": 0,
            "id": reply.tool_id,
            "type": "function",
            "function": {"name": reply.tool_name, "arguments": ""},
        }
        chunks[0]["choices"][0]["delta"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [first],
        }
        step = 8
        for i in range(0, len(args), step):
            piece = {"index": 0, "function": {"arguments": args[i : i + step]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    elif reply.refusal is not None:
        chunks.extend(chunk({"refusal": p}) for p in _split(reply.refusal))
    else:
        chunks.extend(chunk({"content": p}) for p in reply.pieces)
    chunks.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage(reply.tokens_in, reply.tokens_out)})
    return chunks


def _split(text: str) -> list[str]:
    return [text[i : i + 16] for i in range(0, len(text), 16)] or [""]


def sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


DONE_FRAME = b"data: [DONE]\n\n"


def models_list(models: tuple[ModelSpec, ...]) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m) for m in models]}


def model_object(m: ModelSpec) -> dict[str, Any]:
    return {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}


# ---- errors ------------------------------------------------------------------------------------

_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_MESSAGES: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided: sk-***. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to sample from this model", "invalid_request_error", None),
    404: ("Not found.", "invalid_request_error", None),
    408: ("Request timed out.", "server_error", None),
    409: ("The request conflicted with another request.", "invalid_request_error", None),
    413: ("Request too large.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    500: (_SERVER_ERROR, "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    529: ("Overloaded", "server_error", None),
}


def error_body(message: str, etype: str, param: str | None, code: str | None) -> bytes:
    return orjson.dumps(
        {"error": {"message": message, "type": etype, "param": param, "code": code}}
    )


def wire_error_body(err: WireError) -> bytes:
    etype = "server_error" if err.status >= 500 else "invalid_request_error"
    return error_body(err.message, etype, err.param, err.code)


def status_error_body(status: int, message: str = "") -> bytes:
    text, etype, code = _MESSAGES.get(
        status,
        (_SERVER_ERROR, "server_error", None)
        if status >= 500
        else (f"status {status}", "invalid_request_error", None),
    )
    return error_body(message or text, etype, None, code)


def model_not_found(model: str) -> WireError:
    return WireError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        kind="not_found",
        code="model_not_found",
    )


def model_deprecated(model: str) -> WireError:
    return WireError(
        404,
        f"The model `{model}` has been deprecated, learn more here: "
        "https://platform.openai.com/docs/deprecations",
        kind="not_found",
        code="model_not_found",
    )


def context_length_exceeded(window: int, tokens: int) -> WireError:
    return WireError(
        400,
        f"This model's maximum context length is {window} tokens. However, your messages "
        f"resulted in {tokens} tokens. Please reduce the length of the messages.",
        kind="context_length",
        param="messages",
        code="context_length_exceeded",
    )


def content_filter_400() -> bytes:
    """Azure OpenAI's prompt-filter refusal."""
    return orjson.dumps(
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure "
                "OpenAI's content management policy. Please modify your prompt and retry. To "
                "learn more about our content filtering policies please read our documentation: "
                "https://go.microsoft.com/fwlink/?linkid=2198766",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {
                        "hate": {"filtered": False, "severity": "safe"},
                        "self_harm": {"filtered": False, "severity": "safe"},
                        "sexual": {"filtered": False, "severity": "safe"},
                        "violence": {"filtered": True, "severity": "medium"},
                    },
                },
            }
        }
    )


def rate_limit_body(
    model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
) -> bytes:
    """429 body: `kind` is `requests`, `tokens` or `insufficient_quota`."""
    if kind == "insufficient_quota":
        return error_body(
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            None,
            "insufficient_quota",
        )
    unit = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
    wait = "" if retry_s is None else f" Please try again in {_human_wait(retry_s)}."
    return error_body(
        f"Rate limit reached for {model} in organization org-brownout on {unit}: Limit "
        f"{limit}, Used {used}, Requested {requested}.{wait} Visit "
        "https://platform.openai.com/account/rate-limits to learn more.",
        kind,
        None,
        "rate_limit_exceeded",
    )


def _human_wait(seconds: float) -> str:
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def stream_error_frame(error_type: str) -> bytes:
    etype = error_type or "server_error"
    return sse(
        {
            "error": {
                "message": _SERVER_ERROR if etype == "server_error" else etype,
                "type": etype,
                "param": None,
                "code": None,
            }
        }
    )


class OpenAIFormat:
    """`ChatFormat` for the OpenAI chat completions API."""

    provider = "openai"
    safety_status = 400

    def wire_error(self, err: WireError) -> bytes:
        return wire_error_body(err)

    def status_error(self, status: int, message: str) -> bytes:
        return status_error_body(status, message)

    def model_not_found(self, model: str) -> WireError:
        return model_not_found(model)

    def model_deprecated(self, model: str) -> WireError:
        return model_deprecated(model)

    def context_length(self, window: int, tokens: int) -> WireError:
        return context_length_exceeded(window, tokens)

    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]:
        return 429, rate_limit_body(model, kind, limit, used, requested, retry_s)

    def safety_400(self) -> bytes:
        return content_filter_400()

    def tool_id(self) -> str:
        return new_id("call_", 12)

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        return chat_completion(new_id("chatcmpl-"), int(time.time()), model, reply)

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        chunks = chat_chunks(new_id("chatcmpl-"), int(time.time()), model, reply, include_usage)
        return [*((None, c) for c in chunks), (None, DONE)]

    def body_frames(self, frames: list[Frame]) -> int:
        for i, (_, payload) in enumerate(frames):
            if (
                payload == DONE
                or not payload.get("choices")
                or payload["choices"][0].get("finish_reason")
            ):
                return i
        return len(frames)

    def encode(self, frame: Frame) -> bytes:
        return encode_frame(frame)

    def error_frame(self, error_type: str) -> bytes:
        return stream_error_frame(error_type)

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "\n\n'

    def bad_json(self) -> WireError:
        return WireError(
            400,
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but "
            "what was sent was not valid JSON. If you have trouble figuring out how to fix this, "
            "please contact us through our help center at help.openai.com.)",
        )
