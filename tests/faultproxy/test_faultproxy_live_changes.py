"""Toxic changes on busy live connections: no data lost, duplicated or reordered, no hang.

Toxiproxy can deadlock its whole API when a toxic is deleted under heavy traffic (issues
#159, #210, #412, PR #760); the embedded proxy rewires links without waiting on them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt, recv_exactly

ProxyFactory = Callable[..., dict[str, Any]]

CHURN = [
    {"name": "lat", "type": "latency", "attributes": {"latency": 5, "jitter": 3}},
    {"name": "slice", "type": "slicer", "attributes": {"average_size": 700, "delay": 50}},
    {"name": "bw", "type": "bandwidth", "attributes": {"rate": 20_000}},
    {"name": "noop", "type": "noop", "stream": "upstream"},
    {"name": "lat-up", "type": "latency", "stream": "upstream", "attributes": {"latency": 2}},
    {"name": "limit", "type": "limit_data", "attributes": {"bytes": 1 << 40}},
    {"name": "half", "type": "latency", "toxicity": 0.5, "attributes": {"latency": 3}},
]


def test_stream_integrity_under_toxic_churn(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    # A steady upstream bandwidth limit keeps the stream going (~0.75 s) while toxics churn.
    steady = {
        "name": "steady",
        "type": "bandwidth",
        "stream": "upstream",
        "attributes": {"rate": 2000},
    }
    api.post("/proxies/p/toxics", json=steady)
    payload = bytes((i * 7 + i // 251) % 256 for i in range(1_500_000))
    rounds = 0
    with connect(listen, timeout=30) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        received = bytearray()
        receiver = threading.Thread(
            target=lambda: received.extend(recv_exactly(sock, len(payload)))
        )
        sender.start()
        receiver.start()
        while receiver.is_alive() and rounds < 200:
            for toxic in CHURN:
                api.post("/proxies/p/toxics", json=toxic)
            api.post("/proxies/p/toxics/lat", json={"attributes": {"latency": rounds % 4}})
            api.post("/proxies/p/toxics/half", json={"toxicity": 0.5})
            for toxic in CHURN[rounds % 3 :: 2]:
                api.delete(f"/proxies/p/toxics/{toxic['name']}")
            if rounds == 2:
                api.post("/reset")
                api.post("/proxies/p/toxics", json=steady)
            rounds += 1
        api.post("/reset")
        sender.join(30)
        receiver.join(30)
    assert not receiver.is_alive()
    assert rounds >= 3, "the stream finished before the toxics churned"
    assert len(received) == len(payload)
    assert bytes(received) == payload


@pytest.fixture
def stuck_clients(make_proxy: ProxyFactory) -> Iterator[list[socket.socket]]:
    """Clients that send a lot and never read: the proxy's writes to them block."""
    listen = make_proxy("p")["listen"]
    clients = []
    for _ in range(6):
        sock = connect(listen)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        clients.append(sock)
    yield clients
    for sock in clients:
        sock.close()


def _flood(clients: list[socket.socket], seconds: float) -> None:
    junk = b"z" * 65536
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for sock in clients:
            with contextlib.suppress(BlockingIOError, OSError):
                sock.send(junk)
        time.sleep(0.005)


@pytest.mark.parametrize(
    "toxic",
    [
        {"type": "latency", "attributes": {"latency": 50}},
        {"type": "bandwidth", "attributes": {"rate": 0}},
        {"type": "bandwidth", "attributes": {"rate": 1}},
        {"type": "slicer", "attributes": {"average_size": 1, "delay": 10}},
    ],
    ids=["latency", "bandwidth-0", "bandwidth-1", "slicer"],
)
def test_delete_under_heavy_traffic_never_hangs(
    api: httpx.Client,
    make_proxy: ProxyFactory,
    stuck_clients: list[socket.socket],
    toxic: dict[str, Any],
    embedded_only: None,
) -> None:
    _flood(stuck_clients, 0.3)
    for _ in range(3):
        assert api.post("/proxies/p/toxics", json={**toxic, "name": "t"}).status_code == 200
        _flood(stuck_clients, 0.2)
        start = time.monotonic()
        with httpx.Client(base_url=str(api.base_url), timeout=5) as quick:
            assert quick.delete("/proxies/p/toxics/t").status_code == 204
            assert quick.get("/proxies").status_code == 200
        assert time.monotonic() - start < 3.0
    # The server still proxies new connections normally.
    listen = api.get("/proxies/p").json()["listen"]
    with connect(listen) as sock:
        assert echo_rtt(sock) < 1.0
