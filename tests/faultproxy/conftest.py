"""Fixtures for the fault proxy tests: a server under test, upstreams, raw sockets, wait_until.

``server_url`` is the embedded server (started in-process, in a background event-loop thread)
unless ``TOXIPROXY_URL`` names a real Toxiproxy, in which case the same tests run against it
(tests of documented deviations skip themselves there via ``embedded_only``).
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from faultproxy_helpers import REAL_URL

from harness.faultproxy import FaultProxyServer

T = TypeVar("T")


class LoopThread:
    """An event loop (uvloop when available, like production) running in a daemon thread."""

    def __init__(self) -> None:
        try:
            import uvloop

            self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def embedded(loop_thread: LoopThread) -> Iterator[FaultProxyServer]:
    server = FaultProxyServer("127.0.0.1", 0)
    loop_thread.run(server.start())
    yield server
    loop_thread.run(server.stop())


@pytest.fixture
def embedded_with_metrics(loop_thread: LoopThread) -> Iterator[FaultProxyServer]:
    """As started with ``-proxy-metrics``."""
    server = FaultProxyServer("127.0.0.1", 0, metrics=True)
    loop_thread.run(server.start())
    yield server
    loop_thread.run(server.stop())


@pytest.fixture
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The server under test, empty: the embedded one, or TOXIPROXY_URL cleaned out."""
    if REAL_URL:
        _clear(REAL_URL)
        yield REAL_URL.rstrip("/")
        _clear(REAL_URL)
        return
    server: FaultProxyServer = request.getfixturevalue("embedded")
    yield server.url


def _clear(url: str) -> None:
    """Delete every proxy; names are percent-encoded (a test leaves ``a b?c`` behind)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        for name in client.get("/proxies").json():
            response = client.delete(f"/proxies/{quote(name, safe='')}")
            assert response.status_code == 204, (name, response.status_code, response.text)


@pytest.fixture
def embedded_only() -> None:
    """Skip on a real Toxiproxy: the test checks a documented deviation of the embedded one."""
    if REAL_URL:
        pytest.skip(
            "documented deviation of the embedded fault proxy (see "
            "docs/toxiproxy-compatibility.md); not expected of a real Toxiproxy"
        )


@pytest.fixture
def api(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        yield client


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        try:
            while data := sock.recv(65536):
                sock.sendall(data)
        except OSError:
            pass


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 256  # the default backlog of 5 refuses bursts of connections


@pytest.fixture
def echo_upstream() -> Iterator[str]:
    """A TCP echo server; its ``host:port``."""
    server = _ThreadingServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def make_proxy(api: httpx.Client, echo_upstream: str) -> Callable[..., dict[str, Any]]:
    """Create a proxy to the echo upstream on a free port; returns its JSON."""

    def create(name: str = "p", upstream: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream or echo_upstream}
        body.update(extra)
        response = api.post("/proxies", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    return create
