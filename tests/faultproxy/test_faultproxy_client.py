"""``harness.toxiproxy``: the typed client, round-tripped against the server under test."""

from __future__ import annotations

import time

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt

from harness.toxiproxy import Proxy, Toxic, ToxiproxyClient, ToxiproxyError


def test_round_trip(server_url: str, echo_upstream: str) -> None:
    with ToxiproxyClient(server_url, timeout_s=5) as client:
        assert client.version()
        assert client.list_proxies() == {}
        proxy = client.create_proxy("llm", "127.0.0.1:0", echo_upstream)
        assert isinstance(proxy, Proxy)
        assert proxy.enabled and proxy.listen_port > 0 and proxy.listen_host == "127.0.0.1"
        assert client.get_proxy("llm") == proxy
        assert list(client.list_proxies()) == ["llm"]

        toxic = client.add_toxic("llm", "latency", {"latency": 200}, toxicity=1.0)
        assert toxic == Toxic(
            "latency_downstream", "latency", "downstream", 1.0, {"latency": 200, "jitter": 0}
        )
        with connect(proxy.listen) as sock:
            assert echo_rtt(sock) >= 0.19
        updated = client.update_toxic("llm", "latency_downstream", attributes={"jitter": 10})
        assert updated.attributes == {"latency": 200, "jitter": 10}
        assert client.list_toxics("llm") == [updated]
        client.remove_toxic("llm", "latency_downstream")
        assert client.get_proxy("llm").toxics == ()

        disabled = client.update_proxy("llm", enabled=False)
        assert not disabled.enabled
        client.add_toxic("llm", "bandwidth", {"rate": 1}, name="slow", stream="upstream")
        client.reset()
        after = client.get_proxy("llm")
        assert after.enabled and after.toxics == ()

        populated = client.populate([Proxy("llm2", "127.0.0.1:0", echo_upstream, True)])
        assert [p.name for p in populated] == ["llm2"]
        client.delete_proxy("llm")
        client.delete_proxy("llm2")
        assert client.list_proxies() == {}


def test_errors_carry_status_and_message(server_url: str, echo_upstream: str) -> None:
    with ToxiproxyClient(server_url, timeout_s=5) as client:
        with pytest.raises(ToxiproxyError) as missing:
            client.get_proxy("nope")
        assert missing.value.status == 404
        assert "proxy not found" in str(missing.value)
        client.create_proxy("p", "127.0.0.1:0", echo_upstream)
        with pytest.raises(ToxiproxyError) as exists:
            client.create_proxy("p", "127.0.0.1:0", echo_upstream)
        assert exists.value.status == 409
        with pytest.raises(ToxiproxyError) as invalid:
            client.add_toxic("p", "nope", {})
        assert (invalid.value.status, invalid.value.message.endswith("invalid toxic type")) == (
            400,
            True,
        )


def test_unreachable_server_is_status_zero() -> None:
    with connect_refused_url() as url, ToxiproxyClient(url, timeout_s=2) as client:
        start = time.monotonic()
        with pytest.raises(ToxiproxyError) as err:
            client.version()
        assert err.value.status == 0
        assert time.monotonic() - start < 5


def test_names_are_percent_encoded(server_url: str, echo_upstream: str) -> None:
    with ToxiproxyClient(server_url, timeout_s=5) as client:
        client.create_proxy("a b?c", "127.0.0.1:0", echo_upstream)
        assert client.get_proxy("a b?c").name == "a b?c"


class connect_refused_url:
    """A URL on a port that was just free (connections are refused)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        return None


@pytest.mark.parametrize("body", [b"2.4.0", b'{"version": "2.4.0"}\\n', b'{"version": "2.4.0"}\n'])
def test_version_accepts_every_2x_format(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with ToxiproxyClient("http://toxiproxy.invalid", transport=transport) as client:
        assert client.version() == "2.4.0"


def test_non_json_error_bodies_are_reported() -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(503, content=b"<html>Timeout</html>")
    )
    client = ToxiproxyClient("http://toxiproxy.invalid", transport=transport)
    with client, pytest.raises(ToxiproxyError) as err:
        client.reset()
    assert err.value.status == 503
    assert "Timeout" in str(err.value)
