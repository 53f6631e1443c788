"""One provider call in flight: the ASGI send/receive pair plus what the journal records.

Handlers talk to the client only through a `Call`, which keeps the journal fields (status,
stream completion, tokens, faults) true to what actually went over the wire, and knows how to
pause without outliving a client that hung up, and how to reset the TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from mock_providers.core.httpcycle import WHOLE, render_head, whole_supported

if TYPE_CHECKING:
    from mock_providers.core.faults import Fault

Headers = list[tuple[bytes, bytes]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
# Resets the connection of the given client address; True when it found the connection.
Aborter = Callable[[Any], bool]

SSE_CT = b"text/event-stream; charset=utf-8"


class Call:
    """A provider call being served. `headers_for(status)` supplies the provider's headers."""

    def __init__(
        self,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        endpoint: str,
        headers_for: Callable[[Call], Headers],
        aborter: Aborter | None,
        head_for: Callable[[Call], bytes | None] | None = None,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self.endpoint = endpoint
        self.method: str = scope["method"]
        self._headers_for = headers_for
        # The same headers as rendered lines (`core.httpcycle.render_head`), for `WHOLE`.
        self._head_for = head_for
        self._aborter = aborter
        self.t = time.time()
        self.t0 = time.perf_counter()
        self.status = 0
        self.model: str | None = None
        self.stream = False
        self.stream_completed: bool | None = None
        self.tokens_in = 0
        self.tokens_out = 0
        self.faults: list[str] = []
        # The wait the reply asked for (``retry-after-ms`` or ``retry-after``), for the journal.
        self.retry_after_s: float | None = None
        self.request_id = ""
        self.started = False
        # Set when this reply may be replayed for an identical request: (bytes, reply id).
        self.replayable: tuple[bytes, str] | None = None
        # The same for a stream: (encoded frames, frames before the terminal ones, reply id).
        self.replayable_stream: tuple[list[bytes], int, str] | None = None
        # Fault decisions already drawn for this call (by the replay check), if any.
        self.decided: list[Fault] | None = None
        # Faults the request names in `x-brownout-fault` (fire whatever they draw).
        self.named: tuple[str, ...] = ()
        # The capacity model: time waiting for a slot, and the slowdown law's factors.
        self.queue_ms = 0.0
        # The caller's API key, read only when per-key limits are enforced.
        self.api_key = b""
        self.ttft_factor = 1.0
        self.token_factor = 1.0
        # The server takes a whole response in one message (`core.httpcycle.WHOLE`); the app
        # turns this off when it wraps `send` (the body journal reads the standard messages).
        self.whole = whole_supported(scope)
        self._gone: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None

    # ---- client liveness ---------------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self._gone is not None and self._gone.is_set()

    def watch_disconnect(self) -> None:
        """Start noticing the client hanging up (only calls that pause pay for this)."""
        if self._gone is None:
            self._gone = asyncio.Event()
            self._watcher = asyncio.ensure_future(_watch(self._receive, self._gone))

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, returning early if the client disconnects."""
        if seconds <= 0:
            return
        self.watch_disconnect()
        assert self._gone is not None
        if self._gone.is_set():
            return
        if seconds < 0.5:
            # Short gaps (stream cadence) are the hot path: a plain sleep is much cheaper.
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gone.wait(), seconds)

    def finish(self) -> None:
        # Drop the task: a reference from here back to it would make every call cyclic
        # garbage, and that garbage is what made the collector's full passes (~100 ms with
        # 1,000 streams open) stall every stream at once.
        watcher, self._watcher = self._watcher, None
        if watcher is not None and not watcher.done():
            # Once the response is complete the server's receive() returns by itself (uvicorn
            # reports http.disconnect), and that wake-up is already queued: let the watcher end
            # on its own, cheaper than raising CancelledError into it on every call, and
            # cancel it only if it is still waiting after that.
            asyncio.get_running_loop().call_soon(_cancel_if_pending, watcher)

    # ---- responses ----------------------------------------------------------------------------

    async def respond(
        self, status: int, body: bytes, content_type: bytes, extra: Headers | None = None
    ) -> None:
        """Send a whole response."""
        self.status = status
        if extra:
            self.retry_after_s = _asked_wait(extra)
        if self.whole and self._head_for is not None:
            lines = self._head_for(self)
            tail = render_head(extra) if extra else b""
            if lines is not None and tail is not None:
                self.started = True
                head = b"content-type: %s\r\ncontent-length: %d\r\n%s%s" % (
                    content_type,
                    len(body),
                    lines,
                    tail,
                )
                await self._send({"type": WHOLE, "status": status, "head": head, "body": body})
                return
        headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        headers += self._headers_for(self)
        if extra:
            headers += extra
        self.started = True
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def start_stream(self, extra: Headers | None = None) -> None:
        """Send 200 and SSE headers; frames follow with `frame()`, chunked."""
        self.status = 200
        self.stream_completed = False
        headers = [(b"content-type", SSE_CT), (b"cache-control", b"no-cache")]
        headers += self._headers_for(self)
        if extra:
            headers += extra
        self.started = True
        self.watch_disconnect()
        await self._send({"type": "http.response.start", "status": 200, "headers": headers})

    async def frame(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    @property
    def send(self) -> Send:
        """The server's ASGI send, for the stream hot loop (one coroutine less per frame)."""
        return self._send

    def gone(self) -> asyncio.Event:
        """The event set when the client disconnects (starts watching for it)."""
        self.watch_disconnect()
        assert self._gone is not None
        return self._gone

    async def end_stream(self, completed: bool, tail: bytes = b"") -> None:
        """Close the body cleanly, with `tail` in the same write.

        `completed` says whether the terminal frame was sent.
        """
        await self._send({"type": "http.response.body", "body": tail, "more_body": False})
        self.stream_completed = completed and not self.disconnected

    async def reset(self) -> None:
        """Reset the TCP connection (RST), before or in the middle of a response."""
        if self._aborter is not None and self._aborter(self.scope.get("client")):
            if not self.started:
                self.status = 0  # no HTTP response at all, as the architecture doc defines 0
            if self.stream_completed is not None:
                self.stream_completed = False
            # Wait for the server to notice, so it neither sends a 500 nor logs an error.
            self.watch_disconnect()
            assert self._gone is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), 5.0)
            return
        # No handle on the socket (an unknown ASGI server): close without finishing the body.
        raise ConnectionAbortedError("connection reset by fault")

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0


def _asked_wait(headers: Headers) -> float | None:
    """Seconds a reply's ``retry-after-ms`` (preferred, as the SDKs do) or ``retry-after`` asks
    the client to wait; the journal keeps it so analysis can tell whether retries honoured it."""
    found: dict[bytes, bytes] = {k.lower(): v for k, v in headers}
    for name, scale in ((b"retry-after-ms", 0.001), (b"retry-after", 1.0)):
        value = found.get(name)
        if value is not None:
            try:
                return float(value) * scale
            except ValueError:
                return None
    return None


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    """Set `gone` when the server reports the client's disconnect.

    A function of its own, not a method: the task must not reference its `Call` (see finish).
    """
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def _cancel_if_pending(task: asyncio.Task[None]) -> None:
    if not task.done():
        task.cancel()
