"""OpenAI Responses API (`POST /v1/responses`), plain and streamed, on the shared pipeline.

Same answers, faults and accounting as chat completions; only the shapes differ: output items
(`message` with `output_text` parts, `function_call`), `status` / `incomplete_details`, and
streams of typed events carrying both `event:` lines and a `sequence_number`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

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
from mock_providers.openai.wire import OpenAIFormat


def _bad(message: str, param: str | None = None) -> WireError:
    return WireError(400, message, param=param, code="invalid_value" if param else None)


def parse_responses_request(payload: Any, tokenizer: TokenizerProfile) -> ChatRequest:
    if not isinstance(payload, dict):
        raise _bad("Invalid type for request body: expected an object.")
    model = payload.get("model")
    if not isinstance(model, str):
        raise _bad("Missing required parameter: 'model'.", "model")
    raw = payload.get("input")
    items: list[Any]
    if isinstance(raw, str):
        items = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and all(isinstance(i, dict) for i in raw):
        items = raw
    else:
        raise _bad(
            "Invalid type for 'input': expected a string or an array of input items.", "input"
        )
    max_tokens = payload.get("max_output_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 16
    ):
        raise _bad(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
            f">= 16, but got {max_tokens!r} instead.",
            "max_output_tokens",
        )
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("Invalid type for 'stream': expected a boolean.", "stream")
    tools: list[ToolSpec] = []
    raw_tools = payload.get("tools") or []
    if not isinstance(raw_tools, list):
        raise _bad("Invalid type for 'tools': expected an array.", "tools")
    for i, tool in enumerate(raw_tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _bad(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name")
        if tool.get("type", "function") == "function":
            tools.append(ToolSpec(tool["name"], tool.get("parameters")))
    question = ""
    for item in reversed(items):
        if item.get("role") == "user":
            question = text_of(_input_text(item.get("content")))
            break
    last = items[-1] if items else {}
    after_tool = last.get("type") == "function_call_output"
    choice = payload.get("tool_choice")
    return ChatRequest(
        model=model,
        question=question,
        tokens_in=tokenizer.count_messages(items, [payload.get("instructions"), raw_tools]),
        max_tokens=max_tokens,
        stream=stream,
        include_usage=True,
        tools=tools,
        tools_disabled=choice == "none",
        after_tool_result=after_tool,
        tool_result_text=str(last.get("output", "")) if after_tool else "",
    )


def _input_text(content: Any) -> Any:
    if isinstance(content, list):
        return [{"text": p.get("text")} for p in content if isinstance(p, dict)]
    return content


def _usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.tokens_in,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": reply.tokens_out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": reply.tokens_in + reply.tokens_out,
    }


def _items(reply: Reply, msg_id: str, fc_id: str) -> list[dict[str, Any]]:
    if reply.tool_name is not None:
        return [
            {
                "id": fc_id,
                "type": "function_call",
                "status": "completed",
                "call_id": reply.tool_id,
                "name": reply.tool_name,
                "arguments": orjson.dumps(reply.tool_args or {}).decode(),
            }
        ]
    if reply.refusal is not None:
        part: dict[str, Any] = {"type": "refusal", "refusal": reply.refusal}
    else:
        part = {"type": "output_text", "text": reply.text or "", "annotations": [], "logprobs": []}
    status = "incomplete" if reply.finish == "length" else "completed"
    return [
        {"id": msg_id, "type": "message", "status": status, "role": "assistant", "content": [part]}
    ]


def response_object(
    rid: str, model: str, reply: Reply, output: list[dict[str, Any]], status: str | None = None
) -> dict[str, Any]:
    incomplete = None
    if reply.finish == "length":
        incomplete = {"reason": "max_output_tokens"}
    elif reply.finish == "content_filter":
        incomplete = {"reason": "content_filter"}
    final = "incomplete" if incomplete else "completed"
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": status or final,
        "background": False,
        "error": None,
        "incomplete_details": incomplete if status is None else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _usage(reply) if status is None else None,
        "metadata": {},
    }


class ResponsesFormat(OpenAIFormat):
    """`ChatFormat` for the Responses API (errors as chat completions)."""

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        return response_object(
            new_id("resp_", 24), model, reply, _items(reply, new_id("msg_", 24), new_id("fc_", 24))
        )

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        rid, msg_id, fc_id = new_id("resp_", 24), new_id("msg_", 24), new_id("fc_", 24)
        items = _items(reply, msg_id, fc_id)
        item = items[0]
        events: list[dict[str, Any]] = [
            {
                "type": "response.created",
                "response": response_object(rid, model, reply, [], "in_progress"),
            },
            {
                "type": "response.in_progress",
                "response": response_object(rid, model, reply, [], "in_progress"),
            },
        ]
        if item["type"] == "function_call":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "arguments": "", "status": "in_progress"},
                }
            )
            args = item["arguments"]
            events.extend(
                {
                    "type": "response.function_call_arguments.delta",
                    "item_id": fc_id,
                    "output_index": 0,
                    "delta": args[i : i + 8],
                }
                for i in range(0, len(args), 8)
            )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": fc_id,
                    "output_index": 0,
                    "arguments": args,
                }
            )
        else:
            part = item["content"][0]
            empty = {**part, "text": ""} if part["type"] == "output_text" else part
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "content": [], "status": "in_progress"},
                }
            )
            events.append(
                {
                    "type": "response.content_part.added",
                    "item_id": msg_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": empty,
                }
            )
            if part["type"] == "output_text":
                events.extend(
                    {
                        "type": "response.output_text.delta",
                        "item_id": msg_id,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": p,
                        "logprobs": [],
                    }
                    for p in reply.pieces
                )
                events.append(
                    {
                        "type": "response.output_text.done",
                        "item_id": msg_id,
                        "output_index": 0,
                        "content_index": 0,
                        "text": part["text"],
                        "logprobs": [],
                    }
                )
            events.append(
                {
                    "type": "response.content_part.done",
                    "item_id": msg_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": part,
                }
            )
        events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        final = response_object(rid, model, reply, items)
        done_type = (
            "response.completed" if final["status"] == "completed" else "response.incomplete"
        )
        events.append({"type": done_type, "response": final})
        for n, event in enumerate(events):
            event["sequence_number"] = n
        return [(e["type"], e) for e in events]

    def body_frames(self, frames: list[Frame]) -> int:
        for i, (event, _) in enumerate(frames):
            if event in ("response.completed", "response.incomplete"):
                return i
        return len(frames)

    def error_frame(self, error_type: str) -> bytes:
        return encode_frame(
            (
                "error",
                {
                    "type": "error",
                    "code": error_type or "server_error",
                    "message": "The server had an error while processing "
                    "your request. Sorry about that!",
                    "param": None,
                    "sequence_number": 0,
                },
            )
        )

    def malformed_frame(self) -> bytes:
        return b'event: response.output_text.delta\ndata: {"type": "response.output_text\n\n'
