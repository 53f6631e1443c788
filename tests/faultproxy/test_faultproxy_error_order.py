"""With several wrongly typed members, the error names the one Go's decoder meets first.

Go's ``encoding/json`` keeps its first type error and reads on, so the 400 names the first bad
member in document order, and a member given twice fails if either value is bad. A new toxic is
decoded twice (first with a no-op toxic, whose ``attributes`` takes any object; then, after the
stream, type and name checks, into the toxic's own struct); a toxic update once, into an
anonymous struct of ``attributes`` and ``toxicity``, hence the empty struct name. Every expected
text below is what toxiproxy-server 2.12.0 answers, and the suite runs against it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

_BAD = "bad request body: json: cannot unmarshal "

CASES = [
    (
        "POST",
        "/proxies",
        '{"upstream":5,"name":6}',
        "number into Go struct field Proxy.upstream of type string",
    ),
    (
        "POST",
        "/proxies",
        '{"enabled":"x","listen":7,"name":"a"}',
        "string into Go struct field Proxy.enabled of type bool",
    ),
    (
        "POST",
        "/proxies",
        '{"name":5,"name":"ok","upstream":"127.0.0.1:1"}',
        "number into Go struct field Proxy.name of type string",
    ),
    (
        "POST",
        "/proxies",
        '{"logger":"x","NAME":5}',
        "string into Go struct field Proxy.Logger of type zerolog.Logger",
    ),
    (
        "POST",
        "/populate",
        '[{"enabled":"x","name":6}]',
        "string into Go struct field .enabled of type bool",
    ),
    (
        "POST",
        "/proxies/p",
        '{"enabled":"x","upstream":5}',
        "string into Go struct field Proxy.enabled of type bool",
    ),
    (
        "POST",
        "/proxies/p/toxics",
        '{"toxicity":"x","type":5}',
        "string into Go struct field ToxicWrapper.toxicity of type float32",
    ),
    (
        "POST",
        "/proxies/p/toxics",
        '{"attributes":5,"name":5}',
        "number into Go struct field ToxicWrapper.attributes of type toxics.NoopToxic",
    ),
    (
        "POST",
        "/proxies/p/toxics",
        '{"attributes":{"latency":"x"},"type":5}',
        "number into Go struct field ToxicWrapper.type of type string",
    ),
    (
        "POST",
        "/proxies/p/toxics",
        '{"type":"latency","attributes":{"jitter":"a","latency":"b"}}',
        "string into Go struct field LatencyToxic.attributes.jitter of type int64",
    ),
    (
        "POST",
        "/proxies/p/toxics",
        '{"type":"bandwidth","attributes":{"rate":1.5,"rate":2}}',
        "number 1.5 into Go struct field BandwidthToxic.attributes.rate of type int64",
    ),
    (
        "POST",
        "/proxies/p/toxics/t",
        '{"toxicity":"x","attributes":{"latency":"b"}}',
        "string into Go struct field .toxicity of type float32",
    ),
    (
        "POST",
        "/proxies/p/toxics/t",
        '{"attributes":{"jitter":"b","latency":"c"},"toxicity":"x"}',
        "string into Go struct field LatencyToxic.attributes.jitter of type int64",
    ),
    (
        "POST",
        "/proxies/p/toxics/t",
        '{"attributes":5}',
        "number into Go struct field .attributes of type toxics.LatencyToxic",
    ),
]


@pytest.fixture
def proxy_with_toxic(api: httpx.Client, make_proxy: Callable[..., dict[str, Any]]) -> None:
    make_proxy("p")
    toxic = {"name": "t", "type": "latency", "attributes": {"latency": 1}}
    assert api.post("/proxies/p/toxics", json=toxic).status_code == 200


@pytest.mark.usefixtures("proxy_with_toxic")
def test_first_bad_member_in_document_order(api: httpx.Client) -> None:
    for method, path, body, error in CASES:
        response = api.request(method, path, content=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"] == _BAD + error, body
    # Nothing was created or changed by any of them.
    assert sorted(api.get("/proxies").json()) == ["p"]
    toxics = api.get("/proxies/p/toxics").json()
    assert [(t["name"], t["attributes"], t["toxicity"]) for t in toxics] == [
        ("t", {"latency": 1, "jitter": 0}, 1)
    ]
