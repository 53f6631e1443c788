"""The example SUT's streaming: SSE to the user, streamed provider calls, broken streams."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
from ragsut_support import FakeProvider, ReadyProcess, Reply, always, sse_reply

StartSut = Callable[..., ReadyProcess]
STREAM_QUESTION = {"question": "What is backoff?", "stream": True}


def events_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_streamed_answer_is_forwarded_delta_by_delta(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(sse_reply(("Wait ", "longer ", "each time.")))
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=STREAM_QUESTION, headers={"X-Request-Id": "s1"})

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/event-stream"
    events = events_of(reply.text)
    assert [e["delta"] for e in events[:-1]] == ["Wait ", "longer ", "each time."]
    assert events[-1]["done"] is True
    assert events[-1]["answer"] == "Wait longer each time."
    assert events[-1]["attempts"] == 1
    (call,) = fake_provider.calls_for("s1")
    assert call.body["stream"] is True


def test_a_stream_cut_before_the_first_delta_is_retried(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    def cut_first(_rid: str | None, seen: int) -> Reply:
        return sse_reply((), then="cut") if seen == 0 else sse_reply(("ok",))

    fake_provider.responder = cut_first
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=STREAM_QUESTION)

    assert reply.status_code == 200
    assert events_of(reply.text)[-1]["attempts"] == 2


def test_a_stream_cut_after_deltas_ends_with_an_error_event_and_no_retry(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(sse_reply(("Half an ",), then="cut"))
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=STREAM_QUESTION, headers={"X-Request-Id": "s3"})

    assert reply.status_code == 200  # sent with the first delta, before the cut
    events = events_of(reply.text)
    assert events[0] == {"delta": "Half an "}
    assert events[-1]["error"] == "stream_broken"
    assert "connection" in str(events[-1]["detail"])  # the body broke off mid-stream
    assert len(fake_provider.calls_for("s3")) == 1  # what the user has cannot be retried


def test_plain_answers_can_be_assembled_from_a_provider_stream(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    def truncated_then_whole(_rid: str | None, seen: int) -> Reply:
        return sse_reply(("Par",), then="no_done") if seen == 0 else sse_reply(("A", "B"))

    sut = start_sut(fake_provider.url, "resilient", "--provider-stream")
    with httpx.Client() as client:
        fake_provider.responder = always(sse_reply(("x",)))
        for _ in range(10):  # earn a retry from the budget
            assert client.post(f"{sut.url}/ask", json={"question": "q"}).status_code == 200
        fake_provider.responder = truncated_then_whole
        reply = client.post(f"{sut.url}/ask", json={"question": "q"}, headers={"X-Request-Id": "p"})

    assert reply.status_code == 200, reply.text
    assert reply.json()["answer"] == "AB"  # the truncated first attempt was not taken as answer
    assert reply.json()["attempts"] == 2


def test_stream_flag_must_be_boolean(fake_provider: FakeProvider, start_sut: StartSut) -> None:
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json={"question": "q", "stream": "yes"})
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"


def test_a_failure_before_any_delta_gets_a_proper_error_status(
    fake_provider: FakeProvider, start_sut: StartSut
) -> None:
    fake_provider.responder = always(Reply(status=500))
    sut = start_sut(fake_provider.url, "naive")
    reply = httpx.post(f"{sut.url}/ask", json=STREAM_QUESTION)
    assert reply.status_code == 502
    assert reply.json()["attempts"] == 4
