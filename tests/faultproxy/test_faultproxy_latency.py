"""Data path with the latency toxic (toxiproxy.md §9.2 D1-D8) and live toxic changes.

Timing is the behaviour under test here, so the assertions have lower bounds close to the
configured latency (a proxy must never be early) and generous upper bounds for a busy machine.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt, recv_exactly

ProxyFactory = Callable[..., dict[str, Any]]
SLACK_S = 0.6  # upper-bound slack for a loaded 2-core machine


def add_latency(api: httpx.Client, latency: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "latency", "attributes": {"latency": latency}}
    attributes = extra.pop("attributes", None)
    if attributes:
        body["attributes"].update(attributes)
    body.update(extra)
    response = api.post("/proxies/p/toxics", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_no_toxics_is_fast(make_proxy: ProxyFactory) -> None:
    with connect(make_proxy("p")["listen"]) as sock:
        echo_rtt(sock)  # warm up
        assert echo_rtt(sock) < 0.2


def test_downstream_latency_is_one_way(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 300)
    start = time.monotonic()
    with connect(listen) as sock:
        connect_s = time.monotonic() - start
        rtt = echo_rtt(sock)
    assert connect_s < 0.25  # the handshake is never delayed
    assert 0.29 <= rtt < 0.3 + SLACK_S


def test_latencies_add_up_across_streams_and_chains(
    api: httpx.Client, make_proxy: ProxyFactory
) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 100, name="d1")
    add_latency(api, 150, name="d2")
    add_latency(api, 100, name="u1", stream="upstream")
    with connect(listen) as sock:
        rtt = echo_rtt(sock)
    assert 0.34 <= rtt < 0.35 + SLACK_S


def test_latency_is_pipelined_per_chunk(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 200)
    arrivals: list[float] = []
    with connect(listen) as sock:
        start = time.monotonic()

        def reader() -> None:
            for _ in range(5):
                assert recv_exactly(sock, 1) != b""
                arrivals.append(time.monotonic() - start)

        thread = threading.Thread(target=reader)
        thread.start()
        for index in range(5):
            sock.sendall(b"%d" % index)
            time.sleep(0.05)
        thread.join(10)
    assert len(arrivals) == 5
    assert arrivals[0] >= 0.19
    # Shifted once by ~200 ms (≈0.40 s in all), not 200 ms per write (1.0 s).
    assert arrivals[-1] < 0.9


def test_jitter_stays_in_range(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 100, attributes={"jitter": 50})
    rtts = []
    for _ in range(12):
        with connect(listen) as sock:
            rtts.append(echo_rtt(sock))
    assert min(rtts) >= 0.045
    assert max(rtts) < 0.15 + SLACK_S
    assert max(rtts) - min(rtts) > 0.005  # not a constant delay


def _echo_times(socks: list[socket.socket]) -> list[float]:
    """Send one byte on every socket at once; seconds until each echo arrived."""
    arrived: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        start = time.monotonic()
        for sock in socks:
            sock.sendall(b"x")
        deadline = start + 10
        while len(arrived) < len(socks) and time.monotonic() < deadline:
            for key, _events in selector.select(timeout=1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                assert sock.recv(1) == b"x"
                arrived[sock] = time.monotonic() - start
                selector.unregister(sock)
    assert len(arrived) == len(socks)
    return [arrived[sock] for sock in socks]


def test_toxicity_is_rolled_per_connection(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 400, toxicity=0.5)
    socks = [connect(listen) for _ in range(30)]
    try:
        _echo_times(socks)  # warm-up: the first echo also waits for the upstream dial
        # 400 ms latency vs a loopback echo: a wide margin on a busy machine.
        first = [t >= 0.39 for t in _echo_times(socks)]
        second = [t >= 0.39 for t in _echo_times(socks)]
    finally:
        for sock in socks:
            sock.close()
    assert first == second  # all-or-nothing within one connection
    # Binomial(30, 0.5): outside [5, 25] has probability ~3e-4.
    assert 5 <= sum(first) <= 25


def test_update_rerolls_toxicity_on_live_connection(
    api: httpx.Client, make_proxy: ProxyFactory
) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 80, toxicity=0.5)
    seen = set()
    with connect(listen) as sock:
        for _ in range(24):
            api.patch("/proxies/p/toxics/latency_downstream", json={"toxicity": 0.5})
            seen.add(echo_rtt(sock) >= 0.075)
            if len(seen) == 2:
                break
    # Both outcomes within 24 re-rolls, unless p = 2 * 0.5**24.
    assert seen == {True, False}


def test_toxicity_zero_and_one(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 200, toxicity=0)
    with connect(listen) as sock:
        assert echo_rtt(sock) < 0.19


def test_live_add_and_remove(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    with connect(listen) as sock:
        assert echo_rtt(sock) < 0.2
        add_latency(api, 300)
        assert echo_rtt(sock) >= 0.29
        assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 204
        assert echo_rtt(sock) < 0.2


def test_removing_latency_releases_held_data(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 5000)
    with connect(listen) as sock:
        sock.sendall(b"held")
        # The API round trip takes long enough for the chunk to be held by the toxic; if it
        # were not yet, it would pass straight through, which is also correct.
        start = time.monotonic()
        assert api.delete("/proxies/p/toxics/latency_downstream").status_code == 204
        assert recv_exactly(sock, 4) == b"held"
        assert time.monotonic() - start < 2.0


def test_update_applies_to_live_connections(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 50)
    with connect(listen) as sock:
        assert echo_rtt(sock) >= 0.045
        api.post("/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": 300}})
        assert echo_rtt(sock) >= 0.29


def test_reset_keeps_connections(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 300)
    with connect(listen) as sock:
        assert echo_rtt(sock) >= 0.29
        assert api.post("/reset").status_code == 204
        assert echo_rtt(sock) < 0.2


def test_large_payload_is_intact(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    add_latency(api, 10, attributes={"jitter": 5})
    add_latency(api, 5, name="up", stream="upstream")
    payload = bytes(range(256)) * 4096  # 1 MiB, many chunks in both directions
    with connect(listen, timeout=20) as sock:
        thread = threading.Thread(target=sock.sendall, args=(payload,))
        thread.start()
        assert recv_exactly(sock, len(payload)) == payload
        thread.join(10)


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_latency_on_http_upstream(
    api: httpx.Client, make_proxy: ProxyFactory, http_upstream: str
) -> None:
    listen = make_proxy("p", upstream=http_upstream)["listen"]
    add_latency(api, 250)
    with httpx.Client(base_url=f"http://{listen}", timeout=10) as client:
        for _ in range(3):
            start = time.monotonic()
            response = client.get("/")
            elapsed = time.monotonic() - start
            assert response.json() == {"ok": True}
            assert 0.24 <= elapsed < 0.25 + SLACK_S
