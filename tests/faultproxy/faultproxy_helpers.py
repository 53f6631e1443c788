"""Socket helpers and ``wait_until`` shared by the fault proxy tests."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

#: A real Toxiproxy to run the suite against instead of the embedded server.
REAL_URL = os.environ.get("TOXIPROXY_URL")
#: The binary behind TOXIPROXY_URL, when known: tests of the real server's crashes start a
#: private instance of it rather than crash the shared one.
REAL_BINARY = os.environ.get("TOXIPROXY_SERVER")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail showing the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except Exception as err:  # reported if the deadline passes
            last = err
        if last and not isinstance(last, Exception):
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")
        time.sleep(0.01)


def free_port() -> int:
    """A loopback port that was free a moment ago, for explicit ``127.0.0.1:PORT`` listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, port = listen.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def echo_rtt(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Send ``payload`` and time until all of it came back (seconds)."""
    start = time.monotonic()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - start


def read_until_closed(sock: socket.socket, limit: int = 1 << 20) -> tuple[bytes, str]:
    """Read until EOF or reset: (data, "eof" | "reset" | "timeout")."""
    data = b""
    try:
        while len(data) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except TimeoutError:
        return data, "timeout"
    return data, "limit"
