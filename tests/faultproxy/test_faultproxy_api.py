"""Conformance of the HTTP API with Toxiproxy 2.12 (toxiproxy.md §9.1, tests A1-A55).

Runs against the embedded server, or against a real Toxiproxy when TOXIPROXY_URL is set.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt, wait_until

from harness.faultproxy import FaultProxyServer

ProxyFactory = Callable[..., dict[str, Any]]


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.endswith("}\n")
    body = json.loads(response.text)
    assert body["status"] == response.status_code
    assert list(body) == ["error", "status"]
    return response.status_code, body["error"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuses(listen: str) -> bool:
    try:
        connect(listen, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_version(api: httpx.Client) -> None:
    response = api.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.endswith("}\n")
    assert set(json.loads(response.text)) == {"version"}
    assert len(response.headers["x-toxiproxy-request-id"]) == 20


def test_empty_proxy_list(api: httpx.Client) -> None:
    response = api.get("/proxies")
    assert (response.status_code, response.text) == (200, "{}")
    assert response.headers["content-type"] == "application/json"


def test_browser_user_agent_is_refused(api: httpx.Client) -> None:
    response = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (response.status_code, response.text) == (403, "User agent not allowed\n")


@pytest.mark.parametrize("path", ["/nope", "/proxies/", "/metrics", "/events", "/toxics"])
def test_unknown_paths_are_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert (response.status_code, response.text) == (404, "404 page not found\n")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/proxies"), ("PUT", "/proxies/x"), ("HEAD", "/version"), ("GET", "/reset")],
)
def test_wrong_method_is_405_with_empty_body(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.content == b""
    assert "content-type" not in response.headers


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "bad request body: invalid character 'n' looking for beginning of object key string",
        ),
        (b"", "bad request body: EOF"),
        (b'{"upstream":"127.0.0.1:1"}', "missing required field: name"),
        (b'{"name":"p"}', "missing required field: upstream"),
    ],
)
def test_create_proxy_bad_bodies(api: httpx.Client, body: bytes, message: str) -> None:
    assert error_of(api.post("/proxies", content=body)) == (400, message)


def test_create_proxy_wrong_type(api: httpx.Client, echo_upstream: str) -> None:
    body = {"name": "p", "upstream": echo_upstream, "enabled": "yes"}
    status, message = error_of(api.post("/proxies", json=body))
    assert status == 400
    assert message.startswith("bad request body: json: cannot unmarshal string")


def test_create_proxy(api: httpx.Client, echo_upstream: str) -> None:
    port = free_port()
    body = {"name": "p", "listen": f"localhost:{port}", "upstream": echo_upstream}
    response = api.post("/proxies", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["name"] == "p"
    assert data["listen"] == f"127.0.0.1:{port}"
    assert data["upstream"] == echo_upstream
    assert data["enabled"] is True
    assert data["toxics"] == []
    assert [k for k in data if k != "Logger"] == ["name", "listen", "upstream", "enabled", "toxics"]
    with connect(data["listen"]) as sock:
        echo_rtt(sock)
    again = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    assert error_of(api.post("/proxies", json=again)) == (409, "proxy already exists")


def test_create_proxy_on_busy_port_is_500(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    busy = make_proxy("p")["listen"]
    body = {"name": "p2", "listen": busy, "upstream": "127.0.0.1:1"}
    assert error_of(api.post("/proxies", json=body)) == (
        500,
        f"listen tcp {busy}: bind: address already in use",
    )
    assert api.get("/proxies/p2").status_code == 404


def test_create_proxy_bad_listen_is_500(api: httpx.Client) -> None:
    body = {"name": "p", "listen": "local373", "upstream": "127.0.0.1:1"}
    assert error_of(api.post("/proxies", json=body)) == (
        500,
        "listen tcp: address local373: missing port in address",
    )


def test_port_zero_reports_the_bound_port(make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    host, port = listen.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_disabled_proxy_echoes_listen_and_refuses(api: httpx.Client, echo_upstream: str) -> None:
    port = free_port()
    body = {"name": "d", "listen": f"localhost:{port}", "upstream": echo_upstream}
    response = api.post("/proxies", json={**body, "enabled": False})
    assert response.status_code == 201
    assert response.json()["listen"] == f"localhost:{port}"
    assert response.json()["enabled"] is False
    assert refuses(f"127.0.0.1:{port}")


def test_unknown_members_ignored_and_names_case_insensitive(
    api: httpx.Client, echo_upstream: str
) -> None:
    body = {"NAME": "ci", "UPSTREAM": echo_upstream, "Listen": "127.0.0.1:0"}
    response = api.post("/proxies", json={**body, "toxics": [{"type": "latency"}], "foo": 1})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ci"
    assert response.json()["toxics"] == []


def test_get_list_delete_proxy(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("b")["listen"]
    make_proxy("a")
    assert api.get("/proxies/b").json()["listen"] == listen
    assert error_of(api.get("/proxies/nope")) == (404, "proxy not found")
    assert list(api.get("/proxies").json()) == ["a", "b"]
    response = api.delete("/proxies/b")
    assert (response.status_code, response.content) == (204, b"")
    assert error_of(api.delete("/proxies/b")) == (404, "proxy not found")
    assert refuses(listen)


def test_percent_encoded_names(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    make_proxy("a b")
    assert api.get("/proxies/a%20b").json()["name"] == "a b"


def test_toxic_create_and_defaults(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    make_proxy("p")
    assert api.get("/proxies/p/toxics").text == "[]"
    assert error_of(api.get("/proxies/nope/toxics")) == (404, "proxy not found")
    body = {"type": "latency", "attributes": {"latency": 300}}
    response = api.post("/proxies/p/toxics", json=body)
    assert response.status_code == 200
    assert response.text == (
        '{"attributes":{"latency":300,"jitter":0},"name":"latency_downstream",'
        '"type":"latency","stream":"downstream","toxicity":1}'
    )
    assert error_of(api.post("/proxies/p/toxics", json=body)) == (409, "toxic already exists")
    same_name = {"name": "latency_downstream", "type": "latency", "stream": "upstream"}
    assert error_of(api.post("/proxies/p/toxics", json=same_name)) == (
        409,
        "toxic already exists",
    )
    upper = api.post("/proxies/p/toxics", json={"type": "latency", "stream": "UPSTREAM"})
    assert upper.status_code == 200
    assert (upper.json()["name"], upper.json()["stream"]) == ("latency_UPSTREAM", "UPSTREAM")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "latency", "stream": "sideways"},
            (400, "stream was invalid, can be either upstream or downstream"),
        ),
        (
            {"type": "latency", "stream": ""},
            (400, "stream was invalid, can be either upstream or downstream"),
        ),
        ({"type": "nope"}, (400, "invalid toxic type")),
        ({}, (400, "invalid toxic type")),
    ],
)
def test_toxic_create_errors(
    api: httpx.Client, make_proxy: ProxyFactory, body: dict[str, Any], expected: tuple[int, str]
) -> None:
    make_proxy("p")
    assert error_of(api.post("/proxies/p/toxics", json=body)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"type":"latency","attributes":{"latency":"100"}}',
        b'{"type":"latency","attributes":{"latency":100.5}}',
        b'{"type":"latency","attributes":{"latency":1e3}}',
        b'{"type":"latency","toxicity":"0.5"}',
    ],
)
def test_toxic_bad_bodies(api: httpx.Client, make_proxy: ProxyFactory, raw: bytes) -> None:
    make_proxy("p")
    status, message = error_of(api.post("/proxies/p/toxics", content=raw))
    assert status == 400
    assert message.startswith("bad request body: ")
    if raw == b"{":
        assert message == "bad request body: unexpected EOF"
    else:
        assert message.startswith("bad request body: json: cannot unmarshal")


def test_toxic_unknown_attributes_and_toxicity_values(
    api: httpx.Client, make_proxy: ProxyFactory
) -> None:
    make_proxy("p")
    bogus = api.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"bogus": 1}})
    assert bogus.json()["attributes"] == {"latency": 0, "jitter": 0}
    for index, (toxicity, shown) in enumerate(
        [(0, "0"), (1.5, "1.5"), (-1, "-1"), (None, "1"), (0.1, "0.1")]
    ):
        body = {"type": "noop", "name": f"n{index}", "toxicity": toxicity}
        response = api.post("/proxies/p/toxics", json=body)
        assert response.status_code == 200
        assert response.text.endswith(f'"toxicity":{shown}}}')


def test_default_attributes_of_every_type(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    make_proxy("p")
    expected = {
        "latency": {"latency": 0, "jitter": 0},
        "bandwidth": {"rate": 0},
        "slow_close": {"delay": 0},
        "timeout": {"timeout": 0},
        "reset_peer": {"timeout": 0},
        "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
        "limit_data": {"bytes": 0},
        "noop": {},
    }
    for toxic_type, attributes in expected.items():
        response = api.post("/proxies/p/toxics", json={"type": toxic_type, "toxicity": 0})
        assert response.status_code == 200, response.text
        assert list(response.json()["attributes"].items()) == list(attributes.items())


def test_toxic_order_get_update_delete(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    make_proxy("p")
    for name, stream in [("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream")]:
        body = {"name": name, "type": "latency", "stream": stream, "attributes": {"latency": 1}}
        assert api.post("/proxies/p/toxics", json=body).status_code == 200
    assert [t["name"] for t in api.get("/proxies/p/toxics").json()] == ["u1", "d1", "d2"]
    assert api.get("/proxies/p/toxics/d1").json()["name"] == "d1"
    assert error_of(api.get("/proxies/p/toxics/nope")) == (404, "toxic not found")
    assert error_of(api.get("/proxies/nope/toxics/x")) == (404, "proxy not found")

    patched = api.patch("/proxies/p/toxics/d1", json={"attributes": {"jitter": 5}})
    assert patched.status_code == 200
    assert patched.json()["attributes"] == {"latency": 1, "jitter": 5}
    posted = api.post("/proxies/p/toxics/d1", json={"toxicity": 0.5})
    assert posted.json()["attributes"] == {"latency": 1, "jitter": 5}
    assert posted.json()["toxicity"] == 0.5
    ignored = {"type": "timeout", "stream": "upstream", "name": "zzz", "toxicity": 1}
    kept = api.patch("/proxies/p/toxics/d1", json=ignored).json()
    assert (kept["type"], kept["stream"], kept["name"], kept["toxicity"]) == (
        "latency",
        "downstream",
        "d1",
        1,
    )
    assert error_of(api.patch("/proxies/p/toxics/d1", content=b"")) == (
        400,
        "bad request body: EOF",
    )
    assert error_of(api.patch("/proxies/p/toxics/d1", content=b"{")) == (
        400,
        "bad request body: unexpected EOF",
    )
    assert error_of(api.patch("/proxies/p/toxics/nope", json={})) == (404, "toxic not found")

    deleted = api.delete("/proxies/p/toxics/d1")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert error_of(api.delete("/proxies/p/toxics/d1")) == (404, "toxic not found")
    assert error_of(api.delete("/proxies/nope/toxics/d1")) == (404, "proxy not found")
    assert [t["name"] for t in api.get("/proxies/p/toxics").json()] == ["u1", "d2"]


def test_update_proxy(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    listen = make_proxy("p")["listen"]
    api.post("/proxies/p/toxics", json={"type": "latency"})
    disabled = api.post("/proxies/p", json={"enabled": False})
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False
    assert len(disabled.json()["toxics"]) == 1
    assert refuses(listen)
    enabled = api.patch("/proxies/p", json={"enabled": True, "name": "renamed"})
    assert (enabled.json()["name"], enabled.json()["enabled"]) == ("p", True)
    with connect(enabled.json()["listen"]) as sock:
        echo_rtt(sock)
    assert error_of(api.patch("/proxies/p", json={"listen": "local373"})) == (
        500,
        "address local373: missing port in address",
    )
    assert error_of(api.patch("/proxies/p", content=b"{")) == (
        400,
        "bad request body: unexpected EOF",
    )
    assert error_of(api.patch("/proxies/nope", json={})) == (404, "proxy not found")


def test_update_proxy_to_busy_port(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    busy = make_proxy("a")["listen"]
    make_proxy("b")
    assert error_of(api.patch("/proxies/b", json={"listen": busy})) == (
        500,
        f"listen tcp {busy}: bind: address already in use",
    )
    after = api.get("/proxies/b").json()
    assert (after["enabled"], after["listen"]) == (False, busy)


def test_reset(api: httpx.Client, make_proxy: ProxyFactory) -> None:
    make_proxy("p")
    make_proxy("q")
    api.post("/proxies/p/toxics", json={"type": "latency"})
    api.post("/proxies/q", json={"enabled": False})
    response = api.post("/reset")
    assert (response.status_code, response.content) == (204, b"")
    for proxy in api.get("/proxies").json().values():
        assert proxy["enabled"] is True
        assert proxy["toxics"] == []


def test_populate(api: httpx.Client, echo_upstream: str) -> None:
    not_array = api.post("/populate", json={"name": "a"})
    assert not_array.status_code == 400
    assert not_array.headers["content-type"] == "application/json"
    assert not_array.json()["proxies"] is None
    assert not_array.json()["status"] == 400

    empty = api.post("/populate", json=[])
    assert (empty.status_code, empty.text) == (201, '{"proxies":null}')

    body = [
        {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream},
        {"name": "q", "listen": "127.0.0.1:0", "upstream": echo_upstream, "enabled": False},
    ]
    created = api.post("/populate", json=body)
    assert created.status_code == 201
    proxies = created.json()["proxies"]
    assert [p["name"] for p in proxies] == ["p", "q"]
    assert proxies[1]["listen"] == "127.0.0.1:0"
    assert proxies[1]["enabled"] is False

    missing = api.post(
        "/populate", json=[{"name": "r", "upstream": echo_upstream}, {"upstream": echo_upstream}]
    )
    assert missing.status_code == 400
    assert missing.text == (
        '{"error":"missing required field: name at proxy 2","status":400,"proxies":null}'
    )
    assert api.get("/proxies/r").status_code == 404

    partial = api.post(
        "/populate",
        json=[
            {"name": "r", "listen": "127.0.0.1:0", "upstream": echo_upstream},
            {"name": "s", "listen": "local373", "upstream": echo_upstream},
        ],
    )
    assert partial.status_code == 500
    assert partial.json()["error"] == "listen tcp: address local373: missing port in address"
    assert [p["name"] for p in partial.json()["proxies"]] == ["r"]
    assert api.get("/proxies/r").status_code == 200
    assert api.get("/proxies/s").status_code == 404


def test_populate_keeps_identical_and_replaces_different(
    api: httpx.Client, make_proxy: ProxyFactory, echo_upstream: str
) -> None:
    listen = make_proxy("p")["listen"]
    api.post("/proxies/p/toxics", json={"type": "latency"})
    same = [{"name": "p", "listen": listen, "upstream": echo_upstream, "enabled": False}]
    kept = api.post("/populate", json=same).json()["proxies"][0]
    assert kept["enabled"] is True
    assert len(kept["toxics"]) == 1
    with connect(listen) as sock:
        echo_rtt(sock)
        other = [{"name": "p", "listen": listen, "upstream": "127.0.0.1:1"}]
        replaced = api.post("/populate", json=other).json()["proxies"][0]
        assert replaced["toxics"] == []
        assert replaced["upstream"] == "127.0.0.1:1"
        sock.settimeout(5)
        assert sock.recv(10) == b""  # live connection dropped


def test_every_routed_response_has_a_request_id(api: httpx.Client) -> None:
    for response in (api.get("/proxies"), api.get("/proxies/nope"), api.post("/reset")):
        assert len(response.headers["x-toxiproxy-request-id"]) == 20


def test_proxy_without_listen_binds_loopback(
    api: httpx.Client, echo_upstream: str, embedded_only: None
) -> None:
    response = api.post("/proxies", json={"name": "nolisten", "upstream": echo_upstream})
    assert response.status_code == 201
    host, port = response.json()["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0


def test_metrics(embedded_with_metrics: FaultProxyServer, echo_upstream: str) -> None:
    with httpx.Client(base_url=embedded_with_metrics.url, timeout=10) as api:
        body = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream}
        listen = api.post("/proxies", json=body).json()["listen"]
        with connect(listen) as sock:
            echo_rtt(sock, b"x" * 100)

        def counter(name: str, direction: str) -> int:
            for line in api.get("/metrics").text.splitlines():
                if line.startswith(name) and f'direction="{direction}"' in line:
                    return int(line.rsplit(" ", 1)[1])
            return -1

        # Counted when the connection finishes, as in Toxiproxy: poll until it shows.
        wait_until(
            lambda: counter("toxiproxy_proxy_received_bytes_total", "upstream") == 100,
            5,
            "upstream received bytes == 100",
        )
        assert counter("toxiproxy_proxy_sent_bytes_total", "downstream") == 100
        assert api.get("/metrics").headers["content-type"].startswith("text/plain")
