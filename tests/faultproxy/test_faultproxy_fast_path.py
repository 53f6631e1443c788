"""The relay without toxics (transport to transport) and its switches to and from the toxic chain.

A link with no active toxic writes each chunk to the other socket inside the read callback;
adding a toxic moves it onto the stage pipeline and removing the last one moves it back. These
tests check what that path must keep: byte order across switches in both directions, TCP
back-pressure (a client that stops reading stops the upstream), and data an upstream sends
before the client's first byte.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt, recv_exactly, wait_until

ProxyFactory = Callable[..., dict[str, Any]]

#: Toxics that move a link off the fast path without slowing the stream much.
SWITCHERS = [
    {"name": "n-up", "type": "noop", "stream": "upstream"},
    {"name": "n-down", "type": "noop", "stream": "downstream"},
    {"name": "lat", "type": "latency", "stream": "downstream", "attributes": {"latency": 1}},
    {"name": "slice", "type": "slicer", "stream": "upstream", "attributes": {"average_size": 4096}},
    # These two pass data through inside the read callback while their chain is empty (the
    # "passes through" shortcut of the toxic path); mixed with the 1 ms latency above they
    # switch between the shortcut and the stage tasks while data is held in the chain.
    {"name": "lat0", "type": "latency", "stream": "downstream", "attributes": {"latency": 0}},
    {"name": "sc", "type": "slow_close", "stream": "downstream", "attributes": {"delay": 0}},
]


def test_stream_integrity_across_fast_path_switches(
    api: httpx.Client, make_proxy: ProxyFactory
) -> None:
    """Toxics come and go (every round ends with none) while 4 MB echo through the proxy."""
    listen = make_proxy("p")["listen"]
    payload = bytes((i * 31 + i // 997) % 256 for i in range(4_000_000))
    received = bytearray()
    rounds = 0
    with connect(listen, timeout=30) as sock:

        def send_paced() -> None:
            # Paced (about 1 s in all) so the stream spans many switches.
            for start in range(0, len(payload), 16384):
                sock.sendall(payload[start : start + 16384])
                time.sleep(0.004)

        sender = threading.Thread(target=send_paced)
        receiver = threading.Thread(
            target=lambda: received.extend(recv_exactly(sock, len(payload)))
        )
        sender.start()
        receiver.start()
        while receiver.is_alive() and rounds < 300:
            picked = SWITCHERS[rounds % len(SWITCHERS) :] + SWITCHERS[: rounds % 2]
            for toxic in picked:
                api.post("/proxies/p/toxics", json=toxic)
            for toxic in picked:
                api.delete(f"/proxies/p/toxics/{toxic['name']}")
            rounds += 1
        sender.join(30)
        receiver.join(30)
    assert not receiver.is_alive()
    assert rounds >= 3, "the stream finished before the toxics switched"
    assert len(received) == len(payload)
    assert bytes(received) == payload


class _Firehose:
    """An upstream that sends to each client as fast as the socket accepts, counting bytes."""

    LIMIT = 1 << 30  # bounds the loop if flow control were broken

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        block = b"f" * 65536
        with conn:
            conn.settimeout(0.2)
            while not self.stop.is_set() and self.sent < self.LIMIT:
                try:
                    self.sent += conn.send(block)
                except TimeoutError:
                    continue
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def firehose() -> Iterator[_Firehose]:
    hose = _Firehose()
    yield hose
    hose.close()


def test_fast_path_pushes_back_on_a_client_that_does_not_read(
    make_proxy: ProxyFactory, firehose: _Firehose
) -> None:
    listen = make_proxy("hose", upstream=firehose.address)["listen"]
    host, port = listen.rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.settimeout(5)
    with sock:
        sock.connect((host, int(port)))
        wait_until(lambda: firehose.sent > 0, what="the upstream to start sending")

        # Kernel buffers on both hops plus the proxy's write buffer hold a few MB at most;
        # without back-pressure the upstream would push hundreds of MB per second.
        def settled() -> int | None:
            before = firehose.sent
            threading.Event().wait(0.3)
            return before if firehose.sent == before else None

        stalled_at = wait_until(settled, timeout=10, what="the upstream to be held back")
        assert stalled_at < 64 << 20
        # Reading again lets the upstream go on.
        got = 0
        while got < 8 << 20:
            chunk = sock.recv(1 << 20)
            assert chunk, "the proxy closed the connection"
            assert chunk.count(b"f") == len(chunk)
            got += len(chunk)
        wait_until(lambda: firehose.sent > stalled_at, what="the upstream to resume")


class _Greeter:
    """An upstream that speaks first (a banner), then echoes."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                conn.sendall(b"220 hello\r\n")
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()
        self.thread.join(5)


@pytest.mark.parametrize("latency", [0, 20], ids=["fast-path", "latency-toxic"])
def test_upstream_that_speaks_first(
    api: httpx.Client, make_proxy: ProxyFactory, latency: int
) -> None:
    greeter = _Greeter()
    try:
        listen = make_proxy("greet", upstream=greeter.address)["listen"]
        if latency:
            toxic = {"type": "latency", "attributes": {"latency": latency}}
            assert api.post("/proxies/greet/toxics", json=toxic).status_code == 200
        with connect(listen) as sock:
            assert recv_exactly(sock, 11) == b"220 hello\r\n"
            assert echo_rtt(sock, b"after the banner") < 2.0
    finally:
        greeter.close()
