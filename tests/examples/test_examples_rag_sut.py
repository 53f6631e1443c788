"""The example SUT as a real process: answers, policies, request-id forwarding, metrics, 4xx."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import httpx
from ragsut_support import (
    SUT_APP,
    FakeProvider,
    ReadyProcess,
    Reply,
    always,
    parse_prometheus,
    wait_until,
)

StartSut = Callable[..., ReadyProcess]
QUESTION = {"question": "How does a circuit breaker stop retries?"}


def metric(text: str, name: str, **labels: str) -> float:
    return parse_prometheus(text)[(name, frozenset(labels.items()))]


def test_ask_answers_from_provider_and_forwards_request_id(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=QUESTION, headers={"X-Request-Id": "rid-123"})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["answer"] == Reply().content
    assert body["attempts"] == 1
    assert [s["id"] for s in body["sources"]] == ["p3", "p1"]  # most word overlap first
    assert reply.headers["x-request-id"] == "rid-123"
    (call,) = fake_provider.calls_for("rid-123")
    assert call.path == "/v1/chat/completions"
    assert call.authorization == "Bearer brownout-example-key"
    assert call.body["model"] == "gpt-4o-mini"
    assert QUESTION["question"] in call.body["messages"][-1]["content"]
    assert "[p3] Circuit breakers" in call.body["messages"][-1]["content"]


def test_request_id_is_generated_when_missing(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=QUESTION)

    generated = reply.headers["x-request-id"]
    assert len(generated) == 32
    assert len(fake_provider.calls_for(generated)) == 1


def test_naive_policy_makes_four_immediate_attempts_under_500s(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(Reply(status=500))
    sut = start_sut(fake_provider.url, "naive")

    for n in range(3):
        reply = httpx.post(f"{sut.url}/ask", json=QUESTION, headers={"X-Request-Id": f"n{n}"})
        assert reply.status_code == 502
        assert reply.json()["attempts"] == 4
        assert reply.json()["error"] == "max_attempts"
        calls = fake_provider.calls_for(f"n{n}")
        assert len(calls) == 4
        # The SDK's retry header is not forged: the pipeline's own retries are not the SDK's.
        assert [c.retry_count for c in calls] == [None, None, None, None]
    assert len(fake_provider.snapshot()) == 12


def test_resilient_policy_sheds_retries_and_opens_breaker_under_500s(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(Reply(status=500))
    sut = start_sut(fake_provider.url, "resilient")

    statuses = []
    for n in range(15):
        reply = httpx.post(f"{sut.url}/ask", json=QUESTION, headers={"X-Request-Id": f"r{n}"})
        statuses.append((reply.status_code, reply.json()["error"], reply.json()["attempts"]))

    calls = fake_provider.snapshot()
    # The retry budget starts empty and earns 0.1 retry per request, so the first nine get no
    # retry; the tenth failure in a row opens the breaker, and from then on requests fail fast
    # without calling the provider. Naive would have made 60 calls.
    assert len(calls) == 10, statuses
    assert statuses[:9] == [(502, "retry_budget", 1)] * 9
    assert statuses[9] == (503, "circuit_open", 1)
    assert statuses[10:] == [(503, "circuit_open", 0)] * 5
    text = httpx.get(f"{sut.url}/metrics").text
    assert metric(text, "sut_circuit_open") == 1
    assert metric(text, "sut_provider_attempts_total") == len(calls)


def test_resilient_policy_waits_for_retry_after(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    sut = start_sut(fake_provider.url, "resilient")
    with httpx.Client() as client:
        for _ in range(10):  # earn one retry token from the budget (10 x 0.1)
            assert client.post(f"{sut.url}/ask", json=QUESTION).status_code == 200

        def first_call_rate_limited(_rid: str | None, seen: int) -> Reply:
            if seen == 0:
                return Reply(status=429, headers=(("retry-after", "0.5"),))
            return Reply()

        fake_provider.responder = first_call_rate_limited
        reply = client.post(f"{sut.url}/ask", json=QUESTION, headers={"X-Request-Id": "ra"})

    assert reply.status_code == 200, reply.text
    assert reply.json()["attempts"] == 2
    first, second = fake_provider.calls_for("ra")
    assert second.t - first.t >= 0.45  # waited for retry-after (timing is the behaviour here)


def test_bad_input_gets_clear_4xx_and_server_stays_up(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    sut = start_sut(fake_provider.url, "naive")
    with httpx.Client(base_url=sut.url) as client:
        cases = [
            (client.post("/ask", content=b"{not json"), 400, "invalid_json"),
            (client.post("/ask", content=b"\xff\xfe"), 400, "invalid_json"),
            (client.post("/ask", json=["question"]), 400, "invalid_request"),
            (client.post("/ask", json={"q": "x"}), 400, "invalid_request"),
            (client.post("/ask", json={"question": "  "}), 400, "invalid_request"),
            (client.post("/ask", json={"question": 7}), 400, "invalid_request"),
            (client.post("/ask", content=b"x" * 70_000), 413, "too_large"),
            (client.get("/ask"), 405, "method_not_allowed"),
            (client.get("/nope"), 404, "not_found"),
        ]
        for response, status, error in cases:
            assert response.status_code == status, response.text
            assert response.json()["error"] == error
            assert response.json()["detail"]
        assert client.get("/healthz").json() == {"status": "ok", "policy": "naive"}
        assert client.post("/ask", json=QUESTION).status_code == 200
    assert fake_provider.snapshot()  # only the valid request reached the provider
    assert len(fake_provider.snapshot()) == 1


def test_metrics_are_prometheus_text_with_the_documented_names(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    sut = start_sut(fake_provider.url, "naive")
    httpx.post(f"{sut.url}/ask", json=QUESTION)
    fake_provider.responder = always(Reply(status=503))
    httpx.post(f"{sut.url}/ask", json=QUESTION)
    httpx.post(f"{sut.url}/ask", json={})

    response = httpx.get(f"{sut.url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE sut_queue_depth gauge" in text
    assert "# TYPE sut_requests_total counter" in text
    assert metric(text, "sut_queue_depth") == 0
    assert metric(text, "sut_in_flight") == 0
    assert metric(text, "sut_requests_total") == 2
    assert metric(text, "sut_bad_requests_total") == 1
    assert metric(text, "sut_provider_attempts_total") == 5
    assert metric(text, "sut_provider_errors_total") == 4
    assert metric(text, "sut_provider_errors_by_kind_total", kind="http_503") == 4
    assert metric(text, "sut_responses_total", code="502") == 1
    assert metric(text, "sut_retries_total") == 3


def test_slow_provider_backs_up_the_queue(fake_provider: FakeProvider, start_sut: StartSut) -> None:
    fake_provider.responder = always(Reply(hang_s=0.8))
    sut = start_sut(fake_provider.url, "naive", "--workers", "1")

    def ask() -> None:
        with httpx.Client(timeout=30) as client:
            client.post(f"{sut.url}/ask", json=QUESTION)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:

        def backlog() -> tuple[float, float] | None:
            text = httpx.get(f"{sut.url}/metrics").text
            seen = (metric(text, "sut_queue_depth"), metric(text, "sut_in_flight"))
            return seen if seen[0] >= 2 and seen[1] == 1 else None

        wait_until(backlog, 10, "queue depth >= 2 with one job in flight")
    finally:
        for thread in threads:
            thread.join(timeout=30)


def ask_concurrently(url: str, n: int) -> list[httpx.Response]:
    replies: list[httpx.Response] = []

    def ask(i: int) -> None:
        with httpx.Client(timeout=30) as client:
            replies.append(
                client.post(f"{url}/ask", json=QUESTION, headers={"X-Request-Id": f"c{i}"})
            )

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return replies


def test_full_queue_rejects_with_503(fake_provider: FakeProvider, start_sut: StartSut) -> None:
    fake_provider.responder = always(Reply(hang_s=1.0))
    sut = start_sut(fake_provider.url, "naive", "--workers", "1", "--max-queue", "1")
    replies = ask_concurrently(sut.url, 4)

    codes = sorted(r.status_code for r in replies)
    assert len(codes) == 4 and 503 in codes and 200 in codes, codes
    assert all(r.json()["error"] == "queue_full" for r in replies if r.status_code == 503)


def test_resilient_drops_jobs_whose_deadline_passed_in_the_queue(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    # One worker; the first job holds it for its whole 2 s deadline (the provider hangs), so the
    # jobs queued behind it reach the worker with (much) less than the 0.5 s a call needs.
    fake_provider.responder = always(Reply(hang_s=10.0))
    sut = start_sut(
        fake_provider.url, "resilient", "--workers", "1", "--timeout-s", "4", "--deadline-s", "2"
    )
    # A queued job is dropped only if it arrived less than 0.5 s after the first one, so the
    # queued requests go out on connections opened beforehand, released together: no client
    # set-up (an SSL context each) between the first job reaching the provider and them.
    clients = [httpx.Client(base_url=sut.url, timeout=30) for _ in range(3)]
    for client in clients:
        assert client.get("/healthz").status_code == 200
    first: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: first.append(httpx.post(f"{sut.url}/ask", json=QUESTION, timeout=30))
    )
    thread.start()
    wait_until(fake_provider.snapshot, 10, "the first job to reach the provider", interval=0.005)
    queued: list[httpx.Response] = []
    go = threading.Barrier(len(clients))

    def ask(i: int) -> None:
        go.wait()
        queued.append(clients[i].post("/ask", json=QUESTION, headers={"X-Request-Id": f"c{i}"}))

    askers = [threading.Thread(target=ask, args=(i,)) for i in range(len(clients))]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=60)
    thread.join(timeout=30)
    for client in clients:
        client.close()

    assert first[0].status_code == 504
    assert (first[0].json()["error"], first[0].json()["attempts"]) == ("deadline", 1)
    for reply in queued:
        assert reply.status_code == 504
        assert (reply.json()["error"], reply.json()["attempts"]) == ("deadline", 0)
    assert len(fake_provider.snapshot()) == 1  # the queued jobs were never sent


def test_sigterm_stops_the_sut_cleanly(fake_provider: FakeProvider, start_sut: StartSut) -> None:
    sut = start_sut(fake_provider.url, "resilient")
    assert httpx.get(f"{sut.url}/healthz").status_code == 200
    assert sut.stop() == 0


def test_sigterm_lets_the_in_flight_request_finish(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(Reply(hang_s=1.0))
    sut = start_sut(fake_provider.url, "naive")
    replies: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: replies.append(httpx.post(f"{sut.url}/ask", json=QUESTION, timeout=30))
    )
    thread.start()
    wait_until(fake_provider.snapshot, 10, "the request to reach the provider")
    sut.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=30)

    assert [r.status_code for r in replies] == [200]
    assert sut.proc.wait(timeout=30) == 0


def test_missing_provider_url_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_BASE_URL"}
    result = subprocess.run(
        [sys.executable, str(SUT_APP), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--provider-url is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_resilient_sheds_what_would_wait_too_long_and_naive_queues_it(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    # One worker, 0.5 s a call. The first job teaches the estimate the service time; a burst of
    # 6 then finds a queue whose expected wait (depth x 0.5 s) passes 0.6 s after two are
    # queued: resilient refuses the rest at once, naive queues them all.
    fake_provider.responder = always(Reply(hang_s=0.5))
    shed = ("--workers", "1", "--shed-wait-s", "0.6")
    for policy, expect_shed in (("resilient", True), ("naive", False)):
        sut = start_sut(fake_provider.url, policy, *shed)
        assert httpx.post(f"{sut.url}/ask", json=QUESTION, timeout=30).status_code == 200
        codes = sorted(r.status_code for r in ask_concurrently(sut.url, 6))
        refused = codes.count(503)
        if expect_shed:
            assert 200 in codes and refused >= 2, codes
            text = httpx.get(f"{sut.url}/metrics").text
            assert metric(text, "sut_giveups_total", reason="shed") == refused
        else:
            assert codes == [200] * 6, codes
        sut.stop()
