"""A peer that resets mid-stream ends the proxied connection cleanly (no leaked sockets, no
task errors), with and without toxics on the path."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator

import httpx
import pytest
from faultproxy_helpers import connect, recv_exactly, wait_until

from harness.faultproxy import FaultProxyServer


class _ChattyHandler(socketserver.BaseRequestHandler):
    """Streams data until the connection breaks."""

    def handle(self) -> None:
        sock: socket.socket = self.request
        with contextlib.suppress(OSError):
            for _ in range(100_000):  # bounded: ~6.5 GB, far more than any test reads
                sock.sendall(b"c" * 65536)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


@pytest.fixture
def chatty_upstream() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _ChattyHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("toxic", [None, {"type": "latency", "attributes": {"latency": 1}}])
def test_client_reset_mid_stream_closes_the_connection(
    embedded: FaultProxyServer,
    chatty_upstream: str,
    toxic: dict[str, object] | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    with httpx.Client(base_url=embedded.url, timeout=10) as api:
        body = {"name": "p", "listen": "127.0.0.1:0", "upstream": chatty_upstream}
        listen = api.post("/proxies", json=body).json()["listen"]
        if toxic:
            assert api.post("/proxies/p/toxics", json=toxic).status_code == 200
    proxy = embedded.registry.proxies["p"]
    for _ in range(3):
        sock = connect(listen)
        assert len(recv_exactly(sock, 200_000)) == 200_000
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST while the upstream keeps sending
    wait_until(lambda: not proxy.connections, 10, "every proxied connection to be closed")
    gc.collect()  # surfaces "Task exception was never retrieved" if a task died
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
