"""The few raw-ASGI helpers the examples need: bounded bodies, JSON answers, server-sent events.

Raw ASGI on uvicorn (no framework) keeps each example's request path visible in a page of code
and its overhead small next to the provider calls it makes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

MAX_BODY_BYTES = 64 * 1024


class HttpError(Exception):
    """A request the service refuses, answered as ``{"error", "detail"}`` with ``status``."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "disconnected", "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, "too_large", f"body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_json_object(receive: Receive) -> dict[str, Any]:
    """The body as a JSON object, or an HttpError 400/413 saying what is wrong."""
    body = await read_body(receive)
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HttpError(400, "invalid_json", f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise HttpError(400, "invalid_request", "expected a JSON object")
    return document


def string_field(document: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, "invalid_request", f'"{name}" must be a non-empty string')
    if len(value) > 4000:
        raise HttpError(400, "invalid_request", f'"{name}" exceeds 4000 characters')
    return value


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            text = bytes(value).decode("latin-1").strip()
            return text or None
    return None


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes, extra: Headers | None = None
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: dict[str, Any], extra: Headers | None = None
) -> None:
    await send_bytes(send, status, json.dumps(payload).encode(), b"application/json", extra)


async def start_events(send: Send, extra: Headers | None = None) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers + (extra or [])})


async def send_event(send: Send, payload: dict[str, Any]) -> None:
    data = b"data: " + json.dumps(payload).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def end_events(send: Send) -> None:
    await send({"type": "http.response.body", "body": b""})


async def route_error(send: Send, path: str, allowed: str | None) -> None:
    """404 for an unknown path, 405 (with ``allow``) for a known path and the wrong method."""
    if allowed is None:
        await send_json(send, 404, {"error": "not_found", "detail": f"no route {path}"})
    else:
        detail = {"error": "method_not_allowed", "detail": f"{path} accepts {allowed}"}
        await send_json(send, 405, detail, [(b"allow", allowed.encode())])
