"""OpenAI's legacy text completions (`POST /v1/completions`), plain and streamed.

Older clients and vLLM-style servers still speak it. It runs on the shared pipeline like chat
completions; only the shapes differ: a `prompt` instead of messages, `text_completion` objects
with `choices[].text`, and the API's own default of 16 output tokens when `max_tokens` is absent
(so an unbounded answer ends with `finish_reason: "length"`, as the real endpoint's does).
"""

from __future__ import annotations

import time
from typing import Any

from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import DONE, ChatRequest, Frame, Reply, WireError, new_id
from mock_providers.openai.wire import OpenAIFormat

# The legacy endpoint's documented default for `max_tokens`.
DEFAULT_MAX_TOKENS = 16


def _bad(message: str, param: str | None = None, code: str | None = None) -> WireError:
    return WireError(400, message, param=param, code=code)


def _prompt_text(prompt: Any) -> str | None:
    """The prompt as text: a string, the first of a list of strings, or token ids as words."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return str(prompt[0])
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return " ".join(str(p) for p in prompt)
    return None


def parse_completions_request(payload: Any, tokenizer: TokenizerProfile) -> ChatRequest:
    """Validate a `/v1/completions` body the way the API does; `WireError` if bad."""
    if not isinstance(payload, dict):
        raise _bad("Invalid type for request body: expected an object.")
    model = payload.get("model")
    if model is None:
        raise _bad("you must provide a model parameter", param="model")
    if not isinstance(model, str):
        raise _bad("Invalid type for 'model': expected a string.", "model", "invalid_type")
    if "prompt" not in payload:
        raise _bad("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
    prompt = _prompt_text(payload["prompt"])
    if prompt is None:
        raise _bad(
            "Invalid type for 'prompt': expected one of a string, an array of strings or an "
            "array of integers.",
            "prompt",
            "invalid_type",
        )
    max_tokens = payload.get("max_tokens", DEFAULT_MAX_TOKENS)
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise _bad(
            f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got "
            f"{max_tokens!r} instead.",
            "max_tokens",
            "integer_below_min_value",
        )
    stream = payload.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise _bad("Invalid type for 'stream': expected a boolean.", "stream", "invalid_type")
    stream_options = payload.get("stream_options")
    if stream_options is not None and not stream:
        raise _bad(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    return ChatRequest(
        model=model,
        question=prompt,
        tokens_in=max(1, tokenizer.count(prompt)),
        max_tokens=max(1, max_tokens),
        stream=bool(stream),
        include_usage=include_usage,
    )


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.tokens_in,
        "completion_tokens": reply.tokens_out,
        "total_tokens": reply.tokens_in + reply.tokens_out,
    }


def _finish(reply: Reply) -> str:
    return (
        "content_filter"
        if reply.finish == "content_filter"
        else ("length" if reply.finish == "length" else "stop")
    )


def _text(reply: Reply) -> str:
    return reply.text if reply.text is not None else (reply.refusal or "")


def text_completion(cid: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """A non-streaming `text_completion` object."""
    return {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"text": _text(reply), "index": 0, "logprobs": None, "finish_reason": _finish(reply)}
        ],
        "usage": _usage(reply),
    }


class CompletionsFormat(OpenAIFormat):
    """`ChatFormat` for legacy completions (errors as chat completions)."""

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        return text_completion(new_id("cmpl-"), int(time.time()), model, reply)

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        cid, created = new_id("cmpl-"), int(time.time())

        def chunk(text: str, finish: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                out["usage"] = None
            return out

        pieces = reply.pieces if reply.text is not None else [_text(reply)]
        chunks = [chunk(p, None) for p in pieces]
        chunks.append(chunk("", _finish(reply)))
        if include_usage:
            last = {**chunks[-1], "choices": [], "usage": _usage(reply)}
            chunks.append(last)
        return [*((None, c) for c in chunks), (None, DONE)]

    def body_frames(self, frames: list[Frame]) -> int:
        for i, (_, payload) in enumerate(frames):
            if payload == DONE or not payload["choices"] or payload["choices"][0]["finish_reason"]:
                return i
        return len(frames)

    def malformed_frame(self) -> bytes:
        return b'data: {"id": "cmpl-broken", "choices": [{"text": "\n\n'
