"""A 0 ms latency toxic (jitter 0) does not make the toxic path wait.

With nothing to wait for, a chunk crosses such a toxic inside the read callback, as on the
no-toxic path: no stage task is started, no timer is set, nothing hops through the loop. A
toxic that does wait (1 ms) is the control, so the check can fail. Embedded only: it looks
inside the server's links.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import LoopThread
from faultproxy_helpers import connect, recv_exactly

from harness.faultproxy import FaultProxyServer

ProxyFactory = Callable[..., dict[str, Any]]


async def _stage_tasks(server: FaultProxyServer) -> list[bool]:
    """For every live downstream link of proxy ``p``: did any of its stages start a task?"""
    proxy = server.registry.proxies["p"]
    return [
        any(stage.task is not None for stage in connection.downstream.stages)
        for connection in proxy.connections
    ]


@pytest.mark.parametrize(
    ("attributes", "waits"),
    [({"latency": 0}, False), ({"latency": 0, "jitter": 0}, False), ({"latency": 1}, True)],
    ids=["0ms", "0ms-jitter0", "1ms-control"],
)
@pytest.mark.usefixtures("embedded_only")
def test_zero_latency_toxic_relays_inline(
    api: httpx.Client,
    make_proxy: ProxyFactory,
    embedded: FaultProxyServer,
    loop_thread: LoopThread,
    attributes: dict[str, int],
    waits: bool,
) -> None:
    listen = make_proxy("p")["listen"]
    toxic = {"type": "latency", "stream": "downstream", "attributes": attributes}
    assert api.post("/proxies/p/toxics", json=toxic).status_code == 200
    with connect(listen) as sock:
        for index in range(200):
            payload = bytes([index % 251]) * (1 + index * 37 % 5000)
            sock.sendall(payload)
            assert recv_exactly(sock, len(payload)) == payload
        assert loop_thread.run(_stage_tasks(embedded)) == [waits]
