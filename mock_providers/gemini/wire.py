"""Google Gemini wire format (`generateContent`, `streamGenerateContent?alt=sse`, errors).

Field names are the REST API's camelCase ones, which the `google-genai` SDK sends and parses:
`contents[].parts[]`, `systemInstruction`, `generationConfig.maxOutputTokens`,
`tools[].functionDeclarations`; answers carry `candidates[].content.parts`, `finishReason`
(`STOP`, `MAX_TOKENS`, `SAFETY`) and `usageMetadata`. Errors are Google's RPC shape,
`{"error": {"code", "message", "status"}}`, with `RESOURCE_EXHAUSTED` (429, with `RetryInfo`
when a wait is known) and `UNAVAILABLE` (503) the ones retry code meets.
"""

from __future__ import annotations

from typing import Any

import orjson

from mock_providers.core.models import ModelSpec
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import ChatRequest, Frame, Reply, ToolSpec, WireError, new_id

JSON_CT = b"application/json"

# HTTP status -> google.rpc status name.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
    504: "The request timed out. Please try again.",
}
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). Please "
    "use API Key or other form of API consumer identity to call this API."
)


def status_name(status: int) -> str:
    if status in STATUS_NAMES:
        return STATUS_NAMES[status]
    return "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name(status)}
    if details:
        error["details"] = details
    return orjson.dumps({"error": error})


def _bad(message: str) -> WireError:
    return WireError(400, message)


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    )


def parse_generate_request(
    payload: Any, model: str, stream: bool, tokenizer: TokenizerProfile
) -> ChatRequest:
    """Validate a `generateContent` body the way the API does; `WireError` if bad."""
    if not isinstance(payload, dict):
        raise _bad("Invalid JSON payload received. Expected an object.")
    contents = payload.get("contents")
    if not contents:
        raise _bad("* GenerateContentRequest.contents: contents is not specified\n")
    if not isinstance(contents, list):
        raise _bad("Invalid value at 'contents', \"contents\" must be a list of Content.")
    messages: list[dict[str, Any]] = []
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise _bad(
                f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.\n"
            )
        role = content.get("role", "user")
        if role not in ("user", "model", "function", "tool"):
            raise _bad(f"Please use a valid role: user, model. Got: {role!r}.")
        messages.append({"role": role, "content": content["parts"]})
    system = payload.get("systemInstruction")
    if isinstance(system, dict):
        messages.insert(0, {"role": "system", "content": _parts_text(system.get("parts"))})
    config = payload.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise _bad("Invalid value at 'generation_config': expected an object.")
    max_tokens = config.get("maxOutputTokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _bad(
            "* GenerateContentRequest.generation_config.max_output_tokens: must be positive\n"
        )
    raw_tools = payload.get("tools") or []
    tools: list[ToolSpec] = []
    if not isinstance(raw_tools, list):
        raise _bad("Invalid value at 'tools': expected a list of Tool.")
    for tool in raw_tools:
        for decl in (tool.get("functionDeclarations") or []) if isinstance(tool, dict) else []:
            name = decl.get("name") if isinstance(decl, dict) else None
            if not isinstance(name, str) or not name:
                raise _bad(
                    "* GenerateContentRequest.tools[0].function_declarations[0].name: "
                    "Name cannot be empty.\n"
                )
            schema = decl.get("parameters", decl.get("parametersJsonSchema"))
            tools.append(ToolSpec(name, schema))
    mode, allowed = _calling_config(payload.get("toolConfig"))
    forced = allowed[0] if mode == "ANY" and len(allowed) == 1 else None
    question = ""
    for message in reversed(messages):
        if message["role"] == "user":
            question = _parts_text(message["content"])
            if question:
                break
    last_parts = messages[-1]["content"] if isinstance(messages[-1]["content"], list) else []
    responses = [
        p["functionResponse"]
        for p in last_parts
        if isinstance(p, dict) and isinstance(p.get("functionResponse"), dict)
    ]
    after_tool = bool(responses)
    return ChatRequest(
        model=model,
        question=question,
        tokens_in=tokenizer.count_messages(
            [{"content": _count_view(m["content"])} for m in messages], raw_tools or None
        ),
        max_tokens=max_tokens,
        stream=stream,
        include_usage=True,
        tools=tools,
        forced_tool=forced,
        tools_disabled=mode == "NONE",
        after_tool_result=after_tool,
        tool_result_text=orjson.dumps(responses[0].get("response")).decode() if after_tool else "",
    )


def _count_view(content: Any) -> Any:
    """What the tokenizer counts of a content: its text parts and any call/response payloads."""
    if not isinstance(content, list):
        return content
    out: list[Any] = []
    for part in content:
        if isinstance(part, dict):
            out.append(part.get("text") or part.get("functionCall") or part.get("functionResponse"))
    return out


def _calling_config(raw: Any) -> tuple[str, list[str]]:
    if not isinstance(raw, dict):
        return "AUTO", []
    fcc = raw.get("functionCallingConfig")
    if not isinstance(fcc, dict):
        return "AUTO", []
    mode = fcc.get("mode", "AUTO")
    allowed = fcc.get("allowedFunctionNames") or []
    return (mode if isinstance(mode, str) else "AUTO"), [a for a in allowed if isinstance(a, str)]


def count_tokens_request(payload: Any, tokenizer: TokenizerProfile) -> int:
    """`countTokens`: `contents`, or a whole `generateContentRequest`."""
    if isinstance(payload, dict) and isinstance(payload.get("generateContentRequest"), dict):
        payload = payload["generateContentRequest"]
    req = parse_generate_request(payload, "", False, tokenizer)
    return req.tokens_in


_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "refusal": "STOP"}
SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
]


def usage_metadata(tokens_in: int, tokens_out: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "promptTokenCount": tokens_in,
        "totalTokenCount": tokens_in + (tokens_out or 0),
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens_in}],
    }
    if tokens_out is not None:
        out["candidatesTokenCount"] = tokens_out
    return out


def _candidate(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if parts is not None:
        out["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        out["finishReason"] = finish
        if finish == "SAFETY":
            out["safetyRatings"] = SAFETY_RATINGS
    out["index"] = 0
    return out


def _reply_parts(reply: Reply) -> list[dict[str, Any]] | None:
    if reply.finish == "content_filter":
        return None
    if reply.tool_name is not None:
        return [{"functionCall": {"name": reply.tool_name, "args": reply.tool_args or {}}}]
    return [{"text": reply.text if reply.text is not None else (reply.refusal or "")}]


def _finish(reply: Reply) -> str:
    return "SAFETY" if reply.finish == "content_filter" else _FINISH.get(reply.finish, "STOP")


def generate_response(rid: str, model: str, reply: Reply) -> dict[str, Any]:
    """A `GenerateContentResponse`."""
    return {
        "candidates": [_candidate(_reply_parts(reply), _finish(reply))],
        "usageMetadata": usage_metadata(reply.tokens_in, reply.tokens_out),
        "modelVersion": model,
        "responseId": rid,
    }


def stream_chunks(rid: str, model: str, reply: Reply) -> list[dict[str, Any]]:
    """The `GenerateContentResponse` chunks of `streamGenerateContent?alt=sse`, in order."""

    def chunk(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
        return {
            "candidates": [_candidate(parts, finish)],
            "usageMetadata": usage_metadata(
                reply.tokens_in, reply.tokens_out if finish is not None else None
            ),
            "modelVersion": model,
            "responseId": rid,
        }

    finish = _finish(reply)
    if reply.finish == "content_filter":
        return [chunk(None, finish)]
    if reply.tool_name is not None or reply.text is None:
        return [chunk(_reply_parts(reply), finish)]
    pieces = reply.pieces or [""]
    out = [chunk([{"text": p}], None) for p in pieces[:-1]]
    out.append(chunk([{"text": pieces[-1]}], finish))
    return out


def prompt_blocked() -> bytes:
    """The answer to a prompt the safety filter blocks: 200, no candidates, `promptFeedback`."""
    return orjson.dumps(
        {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": SAFETY_RATINGS},
            "usageMetadata": usage_metadata(0, None),
            "modelVersion": "",
            "responseId": new_id("", 12),
        }
    )


def model_object(m: ModelSpec) -> dict[str, Any]:
    methods = (
        ["embedContent"]
        if m.kind == "embedding"
        else ["generateContent", "streamGenerateContent", "countTokens"]
    )
    return {
        "name": f"models/{m.id}",
        "version": "001",
        "displayName": m.display_name or m.id,
        "description": m.display_name or m.id,
        "inputTokenLimit": m.context_window,
        "outputTokenLimit": m.max_output_tokens,
        "supportedGenerationMethods": methods,
    }


def models_list(models: tuple[ModelSpec, ...]) -> dict[str, Any]:
    return {"models": [model_object(m) for m in models]}


def not_found(model: str, method: str = "generateContent") -> WireError:
    return WireError(
        404,
        f"models/{model} is not found for API version v1beta, or is not supported for "
        f"{method}. Call ListModels to see the list of available models and their supported "
        "methods.",
        kind="not_found",
    )


_QUOTA_SERVICE = "generativelanguage.googleapis.com"


def _duration(seconds: float) -> str:
    return f"{max(0.0, seconds):.0f}s" if seconds >= 1 else f"{seconds:.3f}s".rstrip("0")


class GeminiFormat:
    """`ChatFormat` for Gemini's generateContent."""

    provider = "gemini"
    # The prompt-block answer is a 200 with `promptFeedback`, not an error.
    safety_status = 200

    def wire_error(self, err: WireError) -> bytes:
        return error_body(err.status, err.message)

    def bad_json(self) -> WireError:
        return WireError(400, "Invalid JSON payload received. Unexpected token.")

    def status_error(self, status: int, message: str) -> bytes:
        text = (
            message
            or _MESSAGES.get(status)
            or (_MESSAGES[500] if status >= 500 else _MESSAGES[400])
        )
        return error_body(status, text)

    def model_not_found(self, model: str) -> WireError:
        return not_found(model)

    def model_deprecated(self, model: str) -> WireError:
        return WireError(
            404,
            f"models/{model} is no longer available to new users. Please update your code to "
            "use a newer model for the latest features and improvements.",
            kind="not_found",
        )

    def context_length(self, window: int, tokens: int) -> WireError:
        return WireError(
            400,
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({window}).",
            kind="context_length",
        )

    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]:
        metric = "input_token_count" if kind == "tokens" else "requests"
        quota = (
            "GenerateContentInputTokensPerModelPerMinute"
            if kind == "tokens"
            else ("GenerateRequestsPerMinutePerProjectPerModel")
        )
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": f"{_QUOTA_SERVICE}/generate_content_{metric}",
                        "quotaId": quota,
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": str(limit),
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        wait = ""
        if retry_s is not None:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": _duration(retry_s),
                }
            )
            wait = f" Please retry in {retry_s:.3f}s."
        return 429, error_body(
            429,
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            f"https://ai.google.dev/gemini-api/docs/rate-limits.{wait}",
            details,
        )

    def safety_400(self) -> bytes:
        return prompt_blocked()

    def tool_id(self) -> str:
        return ""

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        return generate_response(new_id("", 12), model, reply)

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        return [(None, c) for c in stream_chunks(new_id("", 12), model, reply)]

    def body_frames(self, frames: list[Frame]) -> int:
        for i, (_, payload) in enumerate(frames):
            candidates = payload.get("candidates") if isinstance(payload, dict) else None
            if not candidates or candidates[0].get("finishReason"):
                return i
        return len(frames)

    def encode(self, frame: Frame) -> bytes:
        _, payload = frame
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return b"data: " + data + b"\r\n\r\n"

    def error_frame(self, error_type: str) -> bytes:
        status = 503 if error_type == "overloaded_error" else 500
        return b"data: " + error_body(status, _MESSAGES[status]) + b"\r\n\r\n"

    def malformed_frame(self) -> bytes:
        return b'data: {"candidates": [{"content": {"parts": [{"text": "\r\n\r\n'
