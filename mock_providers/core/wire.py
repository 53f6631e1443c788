"""What both wire formats share: the normalised chat request, wire errors, ids.

Each provider module parses its own JSON into a `ChatRequest` and formats a `Reply` back, so the
answer engine, faults and accounting in between are written once.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson


class WireError(Exception):
    """A request the provider would refuse; rendered in the provider's own error body.

    `kind` is the provider-neutral reason (`invalid_request`, `not_found`, `context_length`);
    `code` / `param` are OpenAI's fields, ignored by the Anthropic renderer.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code


@dataclass
class ToolSpec:
    name: str
    schema: Any


@dataclass
class ChatRequest:
    """A chat request from either provider, reduced to what the mock acts on."""

    model: str
    question: str
    tokens_in: int
    max_tokens: int | None
    stream: bool
    include_usage: bool = False
    tools: list[ToolSpec] = field(default_factory=list)
    forced_tool: str | None = None
    tools_disabled: bool = False
    after_tool_result: bool = False
    tool_result_text: str = ""
    thinking: bool = False

    def wants_tool_call(self) -> bool:
        return bool(self.tools) and not self.tools_disabled and not self.after_tool_result


@dataclass
class Reply:
    """What the model "says": text or one tool call, why it stopped, and the token counts.

    `finish` is provider-neutral: `stop`, `length`, `tool_calls`, `content_filter`, `refusal`.
    """

    text: str | None
    pieces: list[str]
    finish: str
    tokens_in: int
    tokens_out: int
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None
    tool_id: str = ""
    refusal: str | None = None
    thinking: str | None = None


# Ids need to be unique, not secret: a per-process random stem plus a counter is unique across
# the mocks of a run and far cheaper than `secrets` (a system call per id) on the hot path.
_ID_STEM = secrets.token_hex(4)
_ID_COUNTER = itertools.count(int.from_bytes(secrets.token_bytes(8), "big"))


def reseed_ids() -> None:
    """A fresh stem and counter for this process: a forked worker (``--workers``) inherits its
    parent's, and two workers must never hand out the same id."""
    global _ID_STEM, _ID_COUNTER
    _ID_STEM = secrets.token_hex(4)
    _ID_COUNTER = itertools.count(int.from_bytes(secrets.token_bytes(8), "big"))
    _ID_FORMATS.clear()


# Per id length: the %-format with the stem in it, and the counter's modulus (ids are made
# several times a call; building the format each time was most of their cost).
_ID_FORMATS: dict[int, tuple[str, int]] = {}


def new_id(prefix: str, nbytes: int = 12) -> str:
    """A unique id in the provider's style, e.g. `chatcmpl-3f2a…` (2 * `nbytes` hex digits)."""
    found = _ID_FORMATS.get(nbytes)
    if found is None:
        digits = max(2 * nbytes - 8, 1)
        found = _ID_FORMATS[nbytes] = (f"%s{_ID_STEM}%0{digits}x", 16**digits)
    pattern, modulus = found
    return pattern % (prefix, next(_ID_COUNTER) % modulus)


def text_of(content: Any) -> str:
    """The text of a message `content`: a string, or the text parts of a list of blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, dict):
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
                elif block.get("type") == "tool_result":
                    parts.append(text_of(block.get("content")))
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    return ""


_EDGE_TITLES = {
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def edge_html(status: int) -> bytes:
    """The HTML page a CDN edge sends for a gateway failure (clients get no JSON to parse)."""
    title = _EDGE_TITLES.get(status, f"{status} Error")
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


HTML_CT = b"text/html; charset=UTF-8"


# One stream frame before encoding: (SSE event name or None, JSON payload or the DONE marker).
Frame = tuple[str | None, Any]
DONE = "[DONE]"


def encode_frame(frame: Frame) -> bytes:
    event, payload = frame
    if payload == DONE:
        return b"data: [DONE]\n\n"
    head = b"event: " + event.encode() + b"\n" if event else b""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return head + b"data: " + data + b"\n\n"
