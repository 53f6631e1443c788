"""uvicorn's request/response cycle with a whole response sent in one write.

Stock uvicorn (httptools) writes a response's status line and headers when the app sends
`http.response.start` and the body with `http.response.body`: two `write()` system calls on the
socket for every non-streaming reply, and two regular-expression searches per header to check
them. On loopback each write runs the kernel's TCP path in the caller, and on a mock answering
tens of thousands of calls a second those two writes were the largest single cost per call
(docs/performance.md). This cycle keeps the head of a response that declares a
`content-length` until its body arrives and writes both at once when the body comes whole, and
checks all header names (and all values) with one search each. The bytes on the wire are the
same as stock uvicorn's (tests/mock_providers/test_mock_providers_httpcycle.py compares them);
anything unusual (a streamed or chunked body, `HEAD`, a paused transport, a header the fast
check rejects) takes uvicorn's own code path. The access log line is uvicorn's (uvicorn turns it
on whenever the `uvicorn.access` logger has a handler, as under pytest).

An app that renders its own headers can go further: the protocol advertises the ASGI scope
extension `brownout.response.whole`, and a message of that type carries the status, the header
lines already rendered (`render_head`) and the body, written with the server's own `date` line
in one go and no per-header work in the server. Without the extension (another server, or a
wrapped `send`), the app sends the standard two messages.

The mock's protocol (`core.limits.GuardedProtocol`) gives each new cycle this class.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

__all__ = ["WHOLE", "OneWriteCycle", "render_head", "whole_supported"]

_stock_send = RequestResponseCycle.send

#: The scope extension and message type of a whole response with pre-rendered header lines.
WHOLE = "brownout.response.whole"

# uvicorn's default headers (the `date` line, refreshed every second as a new list) rendered.
_defaults: tuple[object, bytes] = (None, b"")


def whole_supported(scope: dict[str, Any]) -> bool:
    """Whether the server serving `scope` takes `WHOLE` messages."""
    extensions = scope.get("extensions")
    return extensions is not None and WHOLE in extensions


def render_head(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """Header lines (`name: value\\r\\n`, names lower-cased) as uvicorn writes them, or None when
    the server's own path must handle them: a character uvicorn refuses (it raises the error), or
    a `connection`/`transfer-encoding` header, which changes how it frames the response."""
    names = [name for name, _ in headers]
    joined = b"".join(names)
    if HEADER_RE.search(joined) or HEADER_VALUE_RE.search(b"".join([v for _, v in headers])):
        return None
    if not joined.islower():
        names = [name.lower() for name in names]
    if b"connection" in names or b"transfer-encoding" in names:
        return None
    return b"".join(
        [name + b": " + value + b"\r\n" for name, (_, value) in zip(names, headers, strict=True)]
    )


def _split_head(head: bytes) -> list[tuple[bytes, bytes]]:
    """`render_head`'s lines back into a header list (for uvicorn's own path)."""
    out: list[tuple[bytes, bytes]] = []
    for line in head.split(b"\r\n"):
        if line:
            name, _, value = line.partition(b": ")
            out.append((name, value))
    return out


class OneWriteCycle(RequestResponseCycle):
    """A `RequestResponseCycle` that sends a whole response's head and body in one write."""

    # The rendered head of a response whose body has not been sent yet (else None).
    _pending_head: bytes | None = None

    async def send(self, message: Any) -> None:
        if self.response_started and self._pending_head is None:
            # A stream's frames (the hot case once a response is under way): uvicorn's path.
            await _stock_send(self, message)
            return
        if message["type"] == WHOLE:
            await self._send_rendered(message)
            return
        head = self._pending_head
        if head is not None:
            self._pending_head = None
            if self._send_whole(head, message):
                return
            # Not a whole body after all: the head goes out as uvicorn would have sent it.
            if not self.disconnected:
                self.transport.write(head)
            await super().send(message)
            return
        if (
            self.response_started
            or message["type"] != "http.response.start"
            or self.flow.write_paused
            or self.disconnected
        ):
            await super().send(message)
            return
        head = self._render_head(message)
        if head is None:  # a header the quick check rejects: uvicorn's loop raises the error
            await super().send(message)
            return
        if self.chunked_encoding is False:
            self._pending_head = head  # a content-length body follows: wait for it
        else:
            self.transport.write(head)

    def _render_head(self, message: Any) -> bytes | None:
        """The status line and headers as uvicorn writes them, with the response state set."""
        headers = self.default_headers + list(message.get("headers", []))
        if HEADER_RE.search(b"".join([name for name, _ in headers])) or HEADER_VALUE_RE.search(
            b"".join([value for _, value in headers])
        ):
            return None
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        if self.access_log:
            self._log(status_code)
        content = [STATUS_LINE[status_code]]
        has_connection_close = False
        for name, value in headers:
            name = name.lower()
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection":
                connection = [token.lower().strip() for token in value.split(b",")]
                if b"close" in connection:
                    self.keep_alive = False
                    has_connection_close = True
            content.extend((name, b": ", value, b"\r\n"))
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if (
            self.chunked_encoding is None
            and self.scope["method"] != "HEAD"
            and status_code not in (204, 304)
        ):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        return b"".join(content)

    def _send_whole(self, head: bytes, message: Any) -> bool:
        """Write `head` and the body in one go when `message` is the whole, exact body."""
        if (
            message["type"] != "http.response.body"
            or message.get("more_body", False)
            or self.disconnected
            or self.flow.write_paused
            or self.scope["method"] == "HEAD"
        ):
            return False
        body = message.get("body", b"")
        if len(body) != self.expected_content_length:
            return False  # uvicorn's own path raises the length error
        self.transport.write(head + body)
        self._completed()
        return True

    async def _send_rendered(self, message: Any) -> None:
        """A `WHOLE` message: status line, `date`, the app's lines and the body in one write."""
        if (
            self.response_started
            or self.flow.write_paused
            or self.disconnected
            or self.scope["method"] == "HEAD"
        ):
            # uvicorn's own path (it raises if a response was already started).
            start: Any = {
                "type": "http.response.start",
                "status": message["status"],
                "headers": _split_head(message["head"]),
            }
            await super().send(start)
            await super().send({"type": "http.response.body", "body": message["body"]})
            return
        global _defaults
        source, defaults = _defaults
        if source is not self.default_headers:
            source = self.default_headers
            defaults = b"".join([n.lower() + b": " + v + b"\r\n" for n, v in self.default_headers])
            _defaults = (source, defaults)
        self.response_started = True
        self.waiting_for_100_continue = False
        if self.access_log:
            self._log(message["status"])
        body = message["body"]
        self.transport.write(
            b"".join(
                (
                    STATUS_LINE[message["status"]],
                    defaults,
                    message["head"],
                    b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n",
                    body,
                )
            )
        )
        self.chunked_encoding = False
        self._completed()

    def _completed(self) -> None:
        """The whole response is written: what uvicorn does after a response's last body."""
        self.expected_content_length = 0
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()

    def _log(self, status_code: int) -> None:
        """uvicorn's access log line."""
        self.access_logger.info(
            '%s - "%s %s HTTP/%s" %d',
            get_client_addr(self.scope),
            self.scope["method"],
            get_path_with_query_string(self.scope),
            self.scope["http_version"],
            status_code,
        )
