"""An upstream that answers and hangs up: the client gets every byte, then the end, per toxic.

The end of the stream travels behind the data: a toxic that holds data (a latency) must deliver
it before the client sees the close, and a toxic that forwards at once must not delay the
close. The embedded proxy passes the end of the stream inline when every stage is empty and
forwards it at once (a connection per request would otherwise start a stage task just for
it); these cases hold it to Toxiproxy's behaviour on both servers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, read_until_closed

ProxyFactory = Callable[..., dict[str, Any]]

PAYLOAD = bytes(range(256)) * 256  # 64 KiB: more than one chunk, less than a socket buffer


@pytest.fixture
def answer_and_hang_up() -> Iterator[str]:
    """An upstream that sends PAYLOAD to each client, then closes (FIN)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.sendall(PAYLOAD)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    thread.join(5)


TOXICS = [
    ({"type": "latency", "attributes": {"latency": 300}}, 0.3),
    ({"type": "latency", "attributes": {"latency": 0}}, 0.0),
    ({"type": "noop"}, 0.0),
    ({"type": "slicer", "attributes": {"average_size": 1000, "delay": 10}}, 0.0),
    ({"type": "bandwidth", "attributes": {"rate": 1000}}, 0.0),
]


@pytest.mark.parametrize(
    ("toxic", "at_least_s"), TOXICS, ids=[str(t[0]["type"]) + str(t[1]) for t in TOXICS]
)
def test_data_then_end_through_a_toxic(
    api: httpx.Client,
    make_proxy: ProxyFactory,
    answer_and_hang_up: str,
    toxic: dict[str, Any],
    at_least_s: float,
) -> None:
    listen = make_proxy("eof", upstream=answer_and_hang_up)["listen"]
    assert api.post("/proxies/eof/toxics", json=toxic).status_code == 200
    started = time.monotonic()
    with connect(listen, timeout=10) as sock:
        data, how = read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert how == "eof"
    assert data == PAYLOAD
    assert elapsed >= at_least_s
    assert elapsed < 8, "the close waited for something"
