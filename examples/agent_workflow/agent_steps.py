"""The workflow's steps and tools, each step one provider call through the official ``openai``
SDK.

Three steps, the shape of most tool-using agents: **research** (the model must call the
``search_docs`` tool; the service runs it), **analyse** (the tool result goes back; the model
answers in text) and **draft** (the final answer, streamed from the provider). A step either
returns its output or raises ``StepFailed`` saying why, in the words the policies decide on.

The tool arguments are where tool-call structure changes bite: the OpenAI wire format sends
them as a JSON *string*, and a provider that starts sending an object (or cut JSON) breaks a
caller that does ``json.loads(arguments)``. ``strict_arguments`` is that caller;
``tolerant_arguments`` accepts both shapes and rejects only what cannot be read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
from example_kit.tracing import Tracing, chat_span_attributes
from openai import AsyncOpenAI

SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the runbook for passages about a topic.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "what to look up"}},
            "required": ["query"],
        },
    },
}

# Typed loosely: the SDK's TypedDicts add nothing to a constant that is checked on the wire.
TOOLS: Any = [SEARCH_TOOL]
FORCE_SEARCH: Any = {"type": "function", "function": {"name": "search_docs"}}

RUNBOOK = (
    "Retry with capped exponential backoff and jitter; never retry a 400.",
    "Honour retry-after on 429 and keep retries under a budget of 10 % of requests.",
    "Open a circuit breaker after repeated provider failures and fail fast while it is open.",
    "Checkpoint each completed step so a failed workflow resumes instead of starting over.",
)

STEPS = ("research", "analyse", "draft")


class StepFailed(Exception):
    """A step did not produce its output; ``kind`` is what the policy decides on."""

    def __init__(self, kind: str, detail: str, retryable: bool) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class StepCall:
    """What a step needs to call the provider on behalf of one user request."""

    client: AsyncOpenAI
    model: str
    headers: dict[str, str]
    timeout: openai.Timeout
    tracing: Tracing = field(default_factory=lambda: Tracing("agent_workflow", env={}))

    @contextmanager
    def chat(self) -> Iterator[dict[str, str]]:
        """A span around one provider call; yields the call's headers, whose ``traceparent``
        names that span (the incoming one unchanged when tracing is off)."""
        attributes = chat_span_attributes(self.model, 0)
        with self.tracing.span(f"chat {self.model}", attributes=attributes) as span:
            headers = dict(self.headers)
            traceparent = self.tracing.traceparent(headers.get("traceparent"))
            if traceparent is not None:
                headers["traceparent"] = traceparent
            try:
                yield headers
            except Exception as exc:
                self.tracing.fail(span, type(exc).__name__)
                raise


def search_docs(query: str) -> str:
    """The tool: runbook lines sharing a word with the query (all of them when none does)."""
    words = set(re.findall(r"[a-z]+", query.lower()))
    hits = [line for line in RUNBOOK if words & set(re.findall(r"[a-z]+", line.lower()))]
    return "\n".join(hits or RUNBOOK)


def strict_arguments(raw: Any) -> dict[str, Any]:
    """``json.loads(arguments)``, as most callers write it: a TypeError on an object."""
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise TypeError("tool arguments are not an object")
    return parsed


def tolerant_arguments(raw: Any) -> dict[str, Any]:
    """A JSON string or an already-decoded object; raises ValueError when neither."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        parsed = json.loads(raw)  # ValueError (JSONDecodeError) on cut JSON
        if isinstance(parsed, dict):
            return parsed
    raise ValueError(f"tool arguments of type {type(raw).__name__}")


def _sdk_failure(exc: Exception) -> StepFailed:
    if isinstance(exc, openai.APITimeoutError):
        return StepFailed("timeout", str(exc), True)
    if isinstance(exc, openai.APIConnectionError):
        return StepFailed("connection", str(exc), True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status in (408, 409, 429) or status >= 500
        return StepFailed(f"http_{status}", exc.message[:200], retryable)
    return StepFailed("provider", f"{type(exc).__name__}: {exc}"[:200], True)


async def _complete(call: StepCall, messages: list[Any], **options: Any) -> Any:
    """One plain chat completion for the user request, in its span; SDK errors as StepFailed."""
    try:
        with call.chat() as headers:
            return await call.client.chat.completions.create(
                model=call.model,
                messages=messages,
                extra_headers=headers,
                timeout=call.timeout,
                **options,
            )
    except openai.OpenAIError as exc:
        raise _sdk_failure(exc) from exc


async def research(call: StepCall, task: str, tolerant: bool) -> dict[str, str]:
    """Step 1: the model picks the search query (a forced tool call); the service runs it."""
    messages: list[Any] = [
        {"role": "system", "content": "Use search_docs to find the relevant runbook lines."},
        {"role": "user", "content": task},
    ]
    completion = await _complete(call, messages, tools=TOOLS, tool_choice=FORCE_SEARCH)
    try:
        tool_call: Any = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
        raw = tool_call.function.arguments
        call_id = tool_call.id
    except (AttributeError, IndexError, TypeError) as exc:
        raise StepFailed("no_tool_call", f"{type(exc).__name__}: {exc}", True) from exc
    try:
        arguments = tolerant_arguments(raw) if tolerant else strict_arguments(raw)
    except (TypeError, ValueError) as exc:
        # Re-asking may get well-formed arguments: retryable for the policy that wants to.
        raise StepFailed("tool_arguments", f"{type(exc).__name__}: {exc}", True) from exc
    query = arguments.get("query")
    if not isinstance(query, str):
        raise StepFailed("tool_arguments", "no string 'query'", True)
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search_docs"}
    with call.tracing.span("execute_tool search_docs", attributes=tool):
        result = search_docs(query)
    return {"call_id": call_id, "query": query, "result": result}


async def analyse(call: StepCall, task: str, found: dict[str, str]) -> str:
    """Step 2: the tool's result goes back to the model, which answers in text."""
    messages: list[Any] = [
        {"role": "user", "content": task},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": found["call_id"],
                    "type": "function",
                    "function": {"name": "search_docs", "arguments": json.dumps(found)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": found["call_id"], "content": found["result"]},
    ]
    completion = await _complete(call, messages, tools=TOOLS)
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise StepFailed("bad_response", f"{type(exc).__name__}: {exc}", True) from exc
    if not isinstance(content, str) or not content:
        raise StepFailed("bad_response", "no text content", True)
    return content


async def draft(call: StepCall, task: str, notes: str) -> str:
    """Step 3: the final answer, streamed; a stream without a finish reason is truncated."""
    messages: list[Any] = [
        {"role": "system", "content": f"Notes:\n{notes}"},
        {"role": "user", "content": f"Write the answer to: {task}"},
    ]
    parts: list[str] = []
    finish: str | None = None
    try:
        with call.chat() as headers:
            stream = await call.client.chat.completions.create(
                model=call.model,
                messages=messages,
                stream=True,
                extra_headers=headers,
                timeout=call.timeout,
            )
            async for chunk in stream:
                if chunk.choices:
                    choice = chunk.choices[0]
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                    finish = choice.finish_reason or finish
    except openai.OpenAIError as exc:
        raise _sdk_failure(exc) from exc
    except Exception as exc:
        # A stream broken mid-body surfaces as the SDK's HTTP library's own error, whose
        # module depends on the SDK version; whatever it is, this attempt is broken.
        raise StepFailed("stream_broken", type(exc).__name__, True) from exc
    if finish is None:
        raise StepFailed("stream_truncated", f"ended after {len(parts)} deltas", True)
    if finish != "stop":
        raise StepFailed(f"finish_{finish}", "the answer was not completed", False)
    return "".join(parts)
