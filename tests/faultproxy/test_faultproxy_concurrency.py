"""Many concurrent connections through toxics: every byte right, every connection cleaned up."""

from __future__ import annotations

import threading

import httpx
from faultproxy_helpers import connect, recv_exactly, wait_until

from harness.faultproxy import FaultProxyServer

CONNECTIONS = 60
ROUNDS = 4


def test_concurrent_connections_with_toxics(embedded: FaultProxyServer, echo_upstream: str) -> None:
    with httpx.Client(base_url=embedded.url, timeout=10) as api:
        body = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream}
        listen = api.post("/proxies", json=body).json()["listen"]
        toxics = [
            {"type": "latency", "attributes": {"latency": 20, "jitter": 10}},
            {"type": "slicer", "stream": "upstream", "attributes": {"average_size": 64}},
            {"type": "bandwidth", "attributes": {"rate": 10_000}, "toxicity": 0.5},
        ]
        for toxic in toxics:
            assert api.post("/proxies/p/toxics", json=toxic).status_code == 200

    failures: list[str] = []

    def client(index: int) -> None:
        try:
            with connect(listen, timeout=20) as sock:
                for round_ in range(ROUNDS):
                    payload = f"{index}:{round_}:".encode() * 50
                    sock.sendall(payload)
                    echoed = recv_exactly(sock, len(payload))
                    if echoed != payload:
                        failures.append(
                            f"client {index} round {round_}: corrupted echo "
                            f"{len(echoed)}/{len(payload)} {echoed[:40]!r}"
                        )
        except OSError as err:
            failures.append(f"client {index}: {err!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    proxy = embedded.registry.proxies["p"]
    wait_until(lambda: not proxy.connections, 10, "all proxied connections to be released")
