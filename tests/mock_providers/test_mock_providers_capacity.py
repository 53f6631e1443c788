"""The capacity model: a concurrency cap, a waiting queue, overload answers, the slowdown law,
per-key enforced limits, and capacity changed by a fault while calls are in flight."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from mockprov_support import Mock, wait_until

from mock_providers.core.capacity import CapacitySpec, Limiter, parse_capacity
from mock_providers.core.faults import FaultSpecError
from mock_providers.core.models import default_models, with_latency

Q = [{"role": "user", "content": "What is the capital of France?"}]
TTFT_MS = 300.0


def slow_mock(make_mock: Callable[..., Mock], flavour: str = "openai", **capacity: Any) -> Mock:
    models = with_latency(default_models(flavour), TTFT_MS, 0.0, 0.0)  # type: ignore[arg-type]
    return make_mock(flavour, models=models, capacity=CapacitySpec(**capacity))


def metric(mock: Mock, name: str) -> float:
    text = mock.http.get("/_brownout/metrics").text
    found = re.search(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M)
    assert found, f"{name} not in {text}"
    return float(found.group(1))


def test_queue_forms_and_latency_rises_beyond_max_concurrency(
    make_mock: Callable[..., Mock],
) -> None:
    mock = slow_mock(make_mock, max_concurrency=2)
    # Two calls aimed at a header-only latency fault hold both slots until their clients hang
    # up, so the six that follow all find the provider busy, however slow this machine is.
    mock.http.post(
        "/_brownout/faults",
        json={"name": "hold", "type": "latency", "header_only": True, "params": {"ms": 60_000}},
    ).raise_for_status()
    host, port = mock.url.removeprefix("http://").split(":")
    holders = [socket.create_connection((host, int(port))) for _ in range(2)]
    for i, sock in enumerate(holders):
        body = orjson.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"h{i}"}]}
        )
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"x-brownout-fault: hold\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )

    def one(i: int) -> int:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
        url = mock.url + "/v1/chat/completions"
        return httpx.post(url, json=body, timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        wait_until(lambda: metric(mock, "brownout_mock_serving") == 2, what="two busy slots")
        queued = [pool.submit(one, i) for i in range(6)]
        wait_until(lambda: metric(mock, "brownout_mock_queue_depth") == 6, what="a queue of 6")
        assert metric(mock, "brownout_mock_serving") == 2  # the cap holds
        for sock in holders:
            sock.close()  # the holders hang up: their slots go to the queue, two at a time
        statuses = [f.result() for f in queued]
    assert statuses == [200] * 6
    rows = mock.calls(8)
    waiting = sorted((r for r in rows if r["fault"] is None), key=lambda r: r["t_end"])
    assert len(waiting) == 6 and all(r["queue_ms"] > 0 for r in waiting)
    assert all(r["latency_ms"] >= r["queue_ms"] + TTFT_MS * 0.9 for r in waiting)
    # Served two at a time once the holders left: three waves, one service time apart, so
    # each call's latency grew by the time it spent behind the others.
    first_pair, last_pair = waiting[:2], waiting[-2:]
    assert min(r["t_end"] for r in last_pair) >= (
        max(r["t_end"] for r in first_pair) + 1.8 * TTFT_MS / 1000
    )
    assert min(r["queue_ms"] for r in last_pair) >= 1.8 * TTFT_MS
    waits_s = sum(r["queue_ms"] for r in rows) / 1000
    assert metric(mock, "brownout_mock_queue_wait_seconds_total") >= waits_s * 0.99


def test_full_queue_gets_the_real_overload_answers(make_mock: Callable[..., Mock]) -> None:
    oa = slow_mock(make_mock, max_concurrency=1, queue=0)
    an = slow_mock(make_mock, "anthropic", max_concurrency=1, queue=0)
    with ThreadPoolExecutor(2) as pool:
        with openai.OpenAI(base_url=oa.url + "/v1", api_key="x", max_retries=0) as c:
            slow = pool.submit(c.chat.completions.create, model="gpt-4o-mini", messages=Q)
            wait_until(lambda: metric(oa, "brownout_mock_serving") == 1, what="a busy slot")
            with pytest.raises(openai.InternalServerError) as info:
                c.chat.completions.create(model="gpt-4o-mini", messages=Q)  # type: ignore[arg-type]
            assert info.value.status_code == 503
            assert info.value.response.headers["x-request-id"].startswith("req_")
            assert slow.result().choices
        with anthropic.Anthropic(base_url=an.url, api_key="x", max_retries=0) as a:
            slow_a = pool.submit(
                a.messages.create, model="claude-mock-haiku", max_tokens=20, messages=Q
            )
            wait_until(lambda: metric(an, "brownout_mock_serving") == 1, what="a busy slot")
            with pytest.raises(anthropic.OverloadedError) as info2:
                a.messages.create(model="claude-mock-haiku", max_tokens=20, messages=Q)  # type: ignore[arg-type]
            assert info2.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
            assert slow_a.result().content
    assert metric(oa, "brownout_mock_overloaded_total") == 1
    assert [r["status"] for r in an.calls(2)].count(529) == 1


def test_capacity_fault_changes_capacity_while_calls_wait(make_mock: Callable[..., Mock]) -> None:
    mock = slow_mock(make_mock, max_concurrency=4)
    r = mock.http.post(
        "/_brownout/faults",
        json={"name": "drop", "type": "capacity", "params": {"max_concurrency": 1}},
    )
    assert r.status_code == 201, r.text
    assert mock.http.get("/_brownout/capacity").json()["max_concurrency"] == 1

    def one(i: int) -> float:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
        httpx.post(mock.url + "/v1/chat/completions", json=body, timeout=60)
        return 0.0

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(4)]
        wait_until(lambda: metric(mock, "brownout_mock_queue_depth") >= 2, what="a queue")
        assert mock.http.delete("/_brownout/faults/drop").status_code == 204
        # Restored to 4: the waiters are admitted at once.
        wait_until(lambda: metric(mock, "brownout_mock_queue_depth") == 0, what="no queue")
        for f in futures:
            f.result()
    assert mock.http.get("/_brownout/capacity").json()["max_concurrency"] == 4
    bad = mock.http.post(
        "/_brownout/faults",
        json={"name": "x", "type": "capacity", "probability": 0.5, "params": {"queue": 1}},
    )
    assert bad.status_code == 400 and "no probability" in bad.json()["error"]


def test_enforced_rpm_per_key_reports_the_bucket(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock("openai", capacity=CapacitySpec(rpm=3))
    with openai.OpenAI(base_url=mock.url + "/v1", api_key="key-a", max_retries=0) as c:
        remaining = []
        for _ in range(3):
            raw = c.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=Q)  # type: ignore[arg-type]
            assert raw.headers["x-ratelimit-limit-requests"] == "3"
            remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
        assert remaining == [2, 1, 0]
        with pytest.raises(openai.RateLimitError) as info:
            c.chat.completions.create(model="gpt-4o-mini", messages=Q)  # type: ignore[arg-type]
        assert "Limit 3, Used 3, Requested 1" in info.value.message
        assert 0 < float(info.value.response.headers["retry-after"]) <= 20
    with openai.OpenAI(base_url=mock.url + "/v1", api_key="key-b", max_retries=0) as other:
        assert other.chat.completions.create(model="gpt-4o-mini", messages=Q).choices  # type: ignore[arg-type]


def test_rate_limit_fault_without_buckets_tells_the_truth(openai_mock: Mock) -> None:
    openai_mock.add_fault("rl", "rate_limit", retry_after_s=0.01)
    with (
        openai.OpenAI(base_url=openai_mock.url + "/v1", api_key="x", max_retries=0) as c,
        pytest.raises(openai.RateLimitError) as info,
    ):
        c.chat.completions.create(model="gpt-4o-mini", messages=Q)  # type: ignore[arg-type]
    assert "Limit 10000, Used " in info.value.message
    assert "Limit 500, Used 500" not in info.value.message


def test_slowdown_law_and_bad_capacity() -> None:
    limiter = Limiter(
        CapacitySpec(max_concurrency=4, ttft_slowdown=1.0, tokens_slowdown=0.5), "openai"
    )
    assert limiter.slowdown() == (1.0, 1.0)
    for _ in range(4):
        assert limiter.try_admit() is True
    assert limiter.slowdown() == (1.75, 1.375)  # n = 4 of C = 4: 1 + a*(4-1)/4
    assert limiter.try_admit() is None  # unbounded queue: must wait
    for bad, words in (
        ({"queue": -5}, "capacity.queue must be >= 0"),
        ({"max_concurrency": 0}, "capacity.max_concurrency must be >= 1"),
        ({"max_concurency": 2}, "unknown capacity keys: max_concurency"),
        ({"overload_status": 529}, "overload_status for openai must be 503 or 429"),
    ):
        with pytest.raises(FaultSpecError, match=re.escape(words)):
            parse_capacity(bad, "openai")
