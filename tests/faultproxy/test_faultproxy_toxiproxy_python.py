"""The embedded server driven by the third-party ``toxiproxy-python`` client (PyPI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultproxy_helpers import connect, echo_rtt

toxiproxy = pytest.importorskip("toxiproxy")
from toxiproxy.api import APIConsumer  # noqa: E402


@pytest.fixture
def client(server_url: str) -> Iterator[object]:
    # toxiproxy-python keeps its server address in class attributes.
    saved = (APIConsumer.host, APIConsumer.port)
    host, port = server_url.removeprefix("http://").rsplit(":", 1)
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(host, int(port))
    yield server
    APIConsumer.host, APIConsumer.port = saved


def test_create_toxic_update_delete_reset(client: object, echo_upstream: str) -> None:
    server = client
    assert server.running()  # type: ignore[attr-defined]
    assert server.version()  # type: ignore[attr-defined]
    proxy = server.create(upstream=echo_upstream, name="py")  # type: ignore[attr-defined]
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert proxy.enabled is True
    assert set(server.proxies()) == {"py"}  # type: ignore[attr-defined]

    proxy.add_toxic(type="latency", attributes={"latency": 200})
    toxic = proxy.get_toxic("latency_downstream")
    assert (toxic.type, toxic.attributes["latency"], toxic.toxicity) == ("latency", 200, 1)
    with connect(proxy.listen) as sock:
        assert echo_rtt(sock) >= 0.19

    with proxy.down():
        assert server.get_proxy("py").enabled is False  # type: ignore[attr-defined]
    assert server.get_proxy("py").enabled is True  # type: ignore[attr-defined]

    assert proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    proxy.add_toxic(type="bandwidth", stream="upstream", attributes={"rate": 1})
    proxy.disable()
    assert server.reset()  # type: ignore[attr-defined]
    after = server.get_proxy("py")  # type: ignore[attr-defined]
    assert after.enabled is True and after.toxics() == {}

    with pytest.raises(toxiproxy.exceptions.ProxyExists):
        server.create(upstream=echo_upstream, name="py")  # type: ignore[attr-defined]
    with pytest.raises(toxiproxy.exceptions.InvalidToxic):
        proxy.add_toxic(type="nope")
    assert server.destroy(proxy)  # type: ignore[attr-defined]
    assert server.proxies() == {}  # type: ignore[attr-defined]
    with pytest.raises(toxiproxy.exceptions.NotFound):
        proxy.destroy()
