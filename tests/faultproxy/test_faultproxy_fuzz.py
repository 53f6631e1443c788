"""Hypothesis fuzzing of the API: only Toxiproxy-plausible answers, and traffic keeps flowing.

Listen addresses are drawn only from loopback literals and malformed strings, so the fuzzer
never binds a public interface nor triggers a DNS lookup.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NAMES = st.sampled_from(["a", "b", "a b", "é", "x%2Fy", "latency_downstream", "t"])
LISTENS = st.one_of(
    st.sampled_from(
        [
            "127.0.0.1:0",
            "localhost:0",
            "",
            ":0",
            "[::1]:0",
            "local373",
            "127.0.0.1:abc",
            "127.0.0.1:99999",
            "[::1",
            "1:2:3",
        ]
    ),
    st.text(st.characters(blacklist_characters=":"), max_size=12),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
KEYS = st.sampled_from(
    [
        "name",
        "NAME",
        "listen",
        "upstream",
        "enabled",
        "type",
        "stream",
        "toxicity",
        "attributes",
        "latency",
        "jitter",
        "rate",
        "delay",
        "timeout",
        "bytes",
        "average_size",
        "size_variation",
        "bogus",
    ]
)
TYPES = st.sampled_from(
    [
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "noop",
        "nope",
        "",
    ]
)
JSON_VALUES = st.recursive(
    SCALARS
    | LISTENS
    | TYPES
    | st.sampled_from(["upstream", "DOWNSTREAM", "sideways", "UPSTREAM_ADDR"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=12,
)
BODIES = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.just(b""),
)
PATHS = st.one_of(
    st.sampled_from(["/version", "/proxies", "/populate", "/reset", "/metrics", "/nope", "/"]),
    NAMES.map(lambda n: f"/proxies/{n}"),
    NAMES.map(lambda n: f"/proxies/{n}/toxics"),
    st.tuples(NAMES, NAMES).map(lambda t: f"/proxies/{t[0]}/toxics/{t[1]}"),
)
METHODS = st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"])
PLAUSIBLE = {200, 201, 204, 400, 404, 405, 409, 500}


@pytest.fixture
def control(api: httpx.Client, echo_upstream: str) -> str:
    """A proxy the fuzzer never names; traffic through it must keep working."""
    body = {"name": "control", "listen": "127.0.0.1:0", "upstream": echo_upstream}
    listen: str = api.post("/proxies", json=body).json()["listen"]
    return listen


def test_fuzz_api(api: httpx.Client, control: str, echo_upstream: str, embedded_only: None) -> None:
    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(method=METHODS, path=PATHS, body=BODIES)
    def check(method: str, path: str, body: bytes) -> None:
        # A placeholder the strategies use so that some proxies point at a live upstream.
        body = body.replace(b"UPSTREAM_ADDR", echo_upstream.encode())
        response = api.request(method, path, content=body)
        assert response.status_code in PLAUSIBLE, (response.status_code, response.text)
        if response.status_code >= 400 and response.status_code not in (404, 405):
            if path == "/populate":
                data: Any = response.json()
                assert data["status"] == response.status_code
            else:
                assert response.json()["status"] == response.status_code
            assert "internal error" not in response.text
        if response.status_code == 500:
            assert any(word in response.text for word in ("address", "listen", "lookup"))

    with connect(control) as sock:
        check()
        assert echo_rtt(sock) < 2.0  # the connection opened before fuzzing still works
    with connect(control) as sock:
        assert echo_rtt(sock) < 2.0
    assert api.get("/version").status_code == 200
