"""Server limits that keep a mock up under hostile or broken clients.

uvicorn's httptools protocol has no limit on header size or count and no deadline for a request
to arrive (a byte every second keeps a slowloris connection open forever, since every byte
re-arms nothing but cancels the keep-alive timer). A mock that a load test depends on must not
be held hostage that way, so this protocol adds, per connection:

* a request-head deadline (`HEAD_TIMEOUT_S` from connection or from the previous response):
  408 and close;
* a body deadline (`BODY_TIMEOUT_S` from the end of the head): 408 and close;
* at most `MAX_HEADER_BYTES` of request line and headers and `MAX_HEADERS` headers: 431;
* a declared `content-length` over the body limit: 413 before reading it.

Idle keep-alive connections are closed quietly after uvicorn's `timeout_keep_alive`.

The deadlines cost next to nothing per request: arming one only records when it falls due, and
one timer per connection wakes at most every `min(HEAD_TIMEOUT_S, BODY_TIMEOUT_S, keep-alive
timeout)` to see whether it did (timers scheduled and cancelled four times per request were a
few percent of a mock's CPU). uvicorn's own keep-alive timeout (close an idle connection
quietly) is one of these deadlines too. Each request's cycle is a
`core.httpcycle.OneWriteCycle`, which sends a whole response in one write.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from mock_providers.core.httpcycle import WHOLE, OneWriteCycle

__all__ = ["BODY_TIMEOUT_S", "HEAD_TIMEOUT_S", "MAX_HEADERS", "MAX_HEADER_BYTES", "GuardedProtocol"]

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200
MAX_BODY_BYTES = 32 * 1024 * 1024

_REASONS = {
    408: b"Request Timeout",
    413: b"Content Too Large",
    431: b"Request Header Fields Too Large",
}


# What the deadline waits for while a connection is idle between requests.
_KEEP_ALIVE = "keep-alive"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits and deadlines above."""

    head_timeout_s = HEAD_TIMEOUT_S
    body_timeout_s = BODY_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        # The wake-up timer, and the deadline in force (loop time) with what it waits for.
        self._deadline: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._what = ""
        # While idle between requests: when the next request's head deadline falls.
        self._head_due = 0.0

    def _arm(self, seconds: float, what: str) -> None:
        self._due = self.loop.time() + seconds
        self._what = what
        if self._deadline is None:
            self._schedule()

    def _schedule(self) -> None:
        # Never later than one shortest timeout from now, so a deadline armed later can never
        # fall before the timer that is already waiting (no rescheduling on the hot path).
        assert self._due is not None
        tick = min(self.head_timeout_s, self.body_timeout_s, self.timeout_keep_alive)
        self._deadline = self.loop.call_at(min(self._due, self.loop.time() + tick), self._check)

    def _disarm(self) -> None:
        self._due = None  # the timer, if any, finds nothing due and stops

    def _stop_timer(self) -> None:
        self._due = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _check(self) -> None:
        self._deadline = None
        if self._due is None:
            return
        if self.loop.time() < self._due:
            self._schedule()
            return
        self._due = None
        if self._what == _KEEP_ALIVE:
            if self.head_timeout_s <= self.timeout_keep_alive:
                self._expire("request")  # the head deadline fell first, as it did on its own
            elif not self.transport.is_closing():
                self.transport.close()  # idle too long: closed quietly, as uvicorn does
            return
        self._expire(self._what)

    def _expire(self, what: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._refuse(408, f"The {what} did not arrive in time.")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close, unless the app already started a response."""
        self._disarm()
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, _REASONS[status], len(body), body)
            )
        self.transport.close()

    # ---- connection and parser events -----------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout_s, "request")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # As uvicorn's, but a limit raised in a parser callback gets its own status.
        if self._what == _KEEP_ALIVE and self._due is not None:
            # The next request is arriving: its head deadline counts from the last response.
            self._due, self._what = self._head_due, "request"
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, str(refused))
            else:
                self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade:
            self.send_400_response("Upgrades are not supported.")
        except httptools.HttpParserError:
            self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        if len(self.headers) >= MAX_HEADERS:
            raise _Refused(431, f"More than {MAX_HEADERS} request headers.")
        super().on_header(name, value)

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEADER_BYTES:
            raise _Refused(431, f"Request headers larger than {MAX_HEADER_BYTES} bytes.")

    def on_headers_complete(self) -> None:
        for name, value in self.headers:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                raise _Refused(413, f"Request body larger than {MAX_BODY_BYTES} bytes.")
        self._arm(self.body_timeout_s, "request body")
        existing = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not existing and type(cycle) is RequestResponseCycle:
            # Its task has not run yet, so every send it makes goes through the subclass.
            cycle.__class__ = OneWriteCycle
            scope: Any = cycle.scope
            scope.setdefault("extensions", {})[WHOLE] = {}

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, except that its keep-alive timeout (a timer made and cancelled on every
        # request) is this protocol's lazy deadline, and the next head's deadline is armed.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            self._arm(self.head_timeout_s, "request")
            return
        self._head_due = self.loop.time() + self.head_timeout_s
        self._arm(min(self.timeout_keep_alive, self.head_timeout_s), _KEEP_ALIVE)
