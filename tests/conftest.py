"""Shared test helpers: a ``wait_until`` that reports the last state it saw, never a bare sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], timeout_s: float, *, what: str = "condition", interval_s: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy; fail with the last value seen."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            last = probe()
        except Exception as exc:  # the probe may fail until the thing it watches exists
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s:g}s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval_s)


@contextmanager
def serving_in_thread(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stdlib HTTP server on a free 127.0.0.1 port, in a thread, for a ``with`` block; yields
    its root URL (``http://127.0.0.1:PORT``) and shuts it down however the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
