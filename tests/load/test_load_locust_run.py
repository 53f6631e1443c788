"""A real Locust subprocess against the example SUT: every request recorded, classified right.

The fake provider gives each new request id the next outcome in turn (answered; 500s on all four
of the naive SUT's attempts, so 502; an empty answer, a 200 that fails validation) and remembers
it, so each requests.jsonl row can be checked individually against what must have happened to it,
and every outcome occurs in every run.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from load_support import RunLocust
from ragsut_support import (
    FakeProvider,
    Reply,
    always,
    sse_reply,
    start_ready_process,
    sut_command,
    wait_until,
)

from harness.load import (
    ContainsValidator,
    JsonFieldValidator,
    LoadConfig,
    RequestRecord,
    RequestSpec,
    build_locust_command,
    build_locust_env,
    read_health,
    read_records,
)


class Rotation:
    """Gives each new request id the next outcome in turn, and the same one on every retry.

    Outcomes follow arrival order, not the (random) ids, so every outcome occurs in every run
    however few requests it makes."""

    def __init__(self, *kinds: str) -> None:
        self.kinds = kinds
        self.plan: dict[str, str] = {}

    def kind(self, request_id: str | None) -> str:
        key = request_id or ""
        return self.plan.setdefault(key, self.kinds[len(self.plan) % len(self.kinds)])


ROTATION = Rotation("ok", "failing", "empty")


def by_request_id(request_id: str | None, _seen: int) -> Reply:
    kind = ROTATION.kind(request_id)
    if kind == "failing":
        return Reply(status=500)
    if kind == "empty":
        return Reply(content="")
    return Reply()


def config_for(host: str, requests_file: Path, **overrides: object) -> LoadConfig:
    fields: dict[str, object] = {
        "host": host,
        "users": 2,
        "spawn_rate": 10,
        "run_time_s": 4,
        "requests_file": str(requests_file),
        "request": RequestSpec(path="/ask", json={"question": "what is backoff?"}, timeout_s=10),
        "wait_s": 0.05,
        "validators": (JsonFieldValidator(field="answer", non_empty=True),),
        "stop_timeout_s": 5,
    }
    fields.update(overrides)
    return LoadConfig(**fields)  # type: ignore[arg-type]


@pytest.fixture
def sut_url(fake_provider: FakeProvider, tmp_path: Path) -> Iterator[str]:
    fake_provider.responder = by_request_id
    sut = start_ready_process(sut_command(fake_provider.url, "naive"), tmp_path / "sut.stderr")
    try:
        yield sut.url
    finally:
        sut.stop()


def test_locust_records_every_request_against_the_sut(
    run_locust: RunLocust, sut_url: str, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    requests_file = tmp_path / "run" / "requests.jsonl"
    health_file = tmp_path / "run" / "load_health.jsonl"
    questions = ("what is backoff?", "what is a retry budget?")
    request = RequestSpec(path="/ask", bodies=tuple({"question": q} for q in questions))
    config = config_for(
        sut_url,
        requests_file,
        request=request,
        health_file=str(health_file),
        health_interval_s=0.5,
        seed=3,
    )
    started = time.time()
    result = run_locust(config)
    ended = time.time()

    assert result.returncode == 0, result.stderr[-3000:]  # request failures do not fail Locust
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    assert len(rows) >= 10, result.stderr[-3000:]
    ids = [row.request_id for row in rows]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)

    outcomes: Counter[str] = Counter()
    for row in rows:
        assert started <= row.t_start <= row.t_end <= ended
        assert abs((row.t_end - row.t_start) * 1000 - row.latency_ms) < 1.0
        assert row.name == "POST /ask" and row.ttft_ms is None and row.bytes > 0
        calls = fake_provider.calls_for(row.request_id)  # the id reached the provider
        kind = ROTATION.plan[row.request_id]
        if kind == "failing":
            outcomes["failed"] += 1
            assert (row.status, row.ok, row.error_class, row.valid) == (
                502,
                False,
                "http_502",
                None,
            )
            assert row.error is not None and row.error.startswith("HTTP 502")
            assert len(calls) == 4
        elif kind == "empty":
            outcomes["invalid"] += 1
            assert (row.status, row.ok, row.error_class, row.valid) == (
                200,
                False,
                "validation",
                False,
            )
            assert row.error == "field 'answer' is empty"
            assert len(calls) == 1
        else:
            outcomes["ok"] += 1
            assert (row.status, row.ok, row.error_class, row.valid) == (200, True, None, True)
            assert row.error is None
            assert len(calls) == 1
    assert set(outcomes) == {"ok", "failed", "invalid"}, outcomes

    asked = {
        c.body["messages"][-1]["content"].rsplit("Question: ", 1)[1]
        for c in fake_provider.snapshot()
    }
    assert asked == set(questions)  # bodies are drawn from the configured list

    samples = list(read_health(health_file))
    assert len(samples) >= 3
    assert all(started <= s.t <= ended and s.cpu_percent >= 0 and s.lag_ms >= 0 for s in samples)
    assert max(s.users for s in samples) == 2
    assert samples[-1].requests <= len(rows)
    assert [s.requests for s in samples] == sorted(s.requests for s in samples)


def test_requests_without_an_answer_are_timeouts(run_locust: RunLocust, tmp_path: Path) -> None:
    # A listening socket that never accepts: connections complete in the kernel backlog, and
    # no response ever comes.
    with socket.socket() as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(64)
        host = f"http://127.0.0.1:{black_hole.getsockname()[1]}"
        requests_file = tmp_path / "requests.jsonl"
        request = RequestSpec(path="/ask", json={"question": "q"}, timeout_s=0.3)
        config = config_for(host, requests_file, users=1, run_time_s=2, request=request)
        result = run_locust(config)

    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    assert rows, result.stderr[-3000:]
    for row in rows:
        assert (row.status, row.ok, row.error_class, row.valid) == (0, False, "timeout", None)
        assert row.error is not None and "timed out" in row.error
        assert row.latency_ms >= 250


def test_refused_connections_are_connection_errors(run_locust: RunLocust, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    requests_file = tmp_path / "requests.jsonl"
    config = config_for(f"http://127.0.0.1:{port}", requests_file, users=1, run_time_s=2)
    result = run_locust(config)

    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    assert rows, result.stderr[-3000:]
    for row in rows:
        assert (row.status, row.ok, row.error_class, row.valid) == (0, False, "connection", None)
        assert row.error is not None and "Refused" in row.error


def test_invalid_config_stops_locust_with_the_reasons(tmp_path: Path) -> None:
    # Written by hand: a LoadConfig object cannot hold invalid values, a file can.
    broken = tmp_path / "load.json"
    broken.write_text('{"host": 1}')
    config = config_for("http://127.0.0.1:9", tmp_path / "r.jsonl", run_time_s=1)
    result = subprocess.run(
        build_locust_command(broken, config),
        env=build_locust_env(broken),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "invalid load configuration" in result.stderr
    assert "run_time_s: Field required" in result.stderr
    assert "Traceback" not in result.stderr


@dataclass
class _Stopped:
    """A Locust run stopped by SIGTERM, as the orchestrator stops one."""

    returncode: int
    stderr: str
    rows: list[RequestRecord]
    #: when the signal was sent (time.time())
    signalled: float


def _sigterm_after(
    fake_provider: FakeProvider, tmp_path: Path, lines: int, **config: object
) -> _Stopped:
    """Run Locust against the naive SUT until ``lines`` requests are recorded, then SIGTERM it
    and collect what it wrote."""
    sut = start_ready_process(sut_command(fake_provider.url, "naive"), tmp_path / "sut.stderr")
    try:
        requests_file = tmp_path / "requests.jsonl"
        load = config_for(sut.url, requests_file, run_time_s=60, validators=(), **config)
        config_path = tmp_path / "load.json"
        load.write(config_path)
        locust = subprocess.Popen(
            build_locust_command(config_path, load),
            env=build_locust_env(config_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until(
                lambda: (
                    requests_file.exists() and len(requests_file.read_text().splitlines()) >= lines
                ),
                30,
                f"{lines} recorded requests",
            )
            locust.send_signal(signal.SIGTERM)
            signalled = time.time()
            _, stderr = locust.communicate(timeout=60)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.communicate(timeout=30)
    finally:
        sut.stop()
    return _Stopped(locust.returncode, stderr, list(read_records(requests_file)), signalled)


def test_sigterm_mid_run_records_the_requests_in_flight(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    # How the orchestrator stops the load: SIGTERM. Requests in flight then finish within
    # --stop-timeout and must still be recorded, without a traceback.
    fake_provider.responder = always(Reply(hang_s=0.01))
    stopped = _sigterm_after(fake_provider, tmp_path, 8, users=6)

    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    rows = stopped.rows
    assert all(row.ok for row in rows)
    assert len(rows) == len(fake_provider.snapshot())  # nothing sent went unrecorded


def test_records_reach_the_file_during_the_run_as_whole_lines_and_survive_sigkill(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    # Records are written in batches: a live reader (the progress display) must still see them
    # within a flush interval, long before a batch fills, and a Locust process killed outright
    # leaves only whole lines.
    fake_provider.responder = always(Reply())
    sut = start_ready_process(sut_command(fake_provider.url, "naive"), tmp_path / "sut.stderr")
    try:
        requests_file = tmp_path / "requests.jsonl"
        # One user waiting 50 ms between requests: a batch of 256 lines takes over 12 s.
        config = config_for(sut.url, requests_file, users=1, run_time_s=60, validators=())
        config_path = tmp_path / "load.json"
        config.write(config_path)
        locust = subprocess.Popen(
            build_locust_command(config_path, config),
            env=build_locust_env(config_path),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(
                lambda: requests_file.exists() and requests_file.read_bytes().count(b"\n") >= 3,
                60,
                "three recorded requests",
            )
            sent_by_then = len(fake_provider.snapshot())
            wait_until(lambda: len(fake_provider.snapshot()) >= sent_by_then + 5, 60, "more")
            locust.kill()
            locust.wait(30)
        finally:
            if locust.poll() is None:
                locust.kill()
                locust.wait(30)
    finally:
        sut.stop()

    assert sent_by_then < 256  # written by the flush timer, not because a batch was full
    data = requests_file.read_bytes()
    assert data.endswith(b"\n")  # whole lines only, even after SIGKILL
    rows = list(read_records(requests_file))
    assert len(rows) == data.count(b"\n") >= 3
    assert all(row.ok for row in rows)


STREAM_ROTATION = Rotation("ok", "cut", "stalled")


def streamed(request_id: str | None, _seen: int) -> Reply:
    chunks = ('data: {"delta": "Back"}\n\n', 'data: {"delta": "off"}\n\n', "data: [DONE]\n\n")
    kind = STREAM_ROTATION.kind(request_id)
    if kind == "cut":
        return Reply(chunks=chunks[:1], then="cut")
    if kind == "stalled":
        return Reply(chunks=chunks[:1], then="stall")
    return Reply(chunks=chunks, chunk_delay_s=0.15)


def test_streamed_bodies_record_time_to_first_byte_and_cuts(
    run_locust: RunLocust, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    # Straight at the fake provider's SSE stream: the load driver's side of streaming alone.
    fake_provider.responder = streamed
    requests_file = tmp_path / "requests.jsonl"
    request = RequestSpec(
        path="/v1/chat/completions", json={"stream": True}, timeout_s=0.6, stream=True
    )
    host = fake_provider.url.removesuffix("/v1")
    config = config_for(
        host, requests_file, request=request, validators=(ContainsValidator(text="[DONE]"),)
    )
    result = run_locust(config)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    seen: Counter[str] = Counter()
    for row in rows:
        kind = STREAM_ROTATION.plan[row.request_id]
        assert row.status == 200 and row.ttft_ms is not None and row.bytes > 0
        assert row.ttft_ms <= row.latency_ms
        if kind == "cut":
            seen["cut"] += 1
            assert (row.ok, row.error_class, row.valid) == (False, "connection", None)
            assert row.error is not None and row.error.startswith("body cut after 25 bytes")
            assert row.bytes == 25
        elif kind == "stalled":
            seen["stalled"] += 1
            assert (row.ok, row.error_class, row.valid) == (False, "timeout", None)
        else:
            seen["ok"] += 1
            assert (row.ok, row.error_class, row.valid) == (True, None, True)
            # Two 150 ms pauses between the first byte and the end (generous bound: timing is
            # what is under test).
            assert row.latency_ms - row.ttft_ms >= 250
            # Three chunks 150 ms apart: the inter-chunk (inter-token) latency is about that. On
            # a starved machine one chunk can arrive in two reads (an extra, later arrival):
            # 300 ms over 4 gaps is 75 ms, still far from the 0 of a body read at once.
            assert row.itl_ms is not None and 60 <= row.itl_ms <= row.latency_ms
    assert set(seen) == {"ok", "cut", "stalled"}, seen


def test_bodies_not_streamed_are_read_whole_and_cuts_still_seen(
    run_locust: RunLocust, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    # The same answers, the request not configured as streamed: the body is read in one call,
    # and a body that breaks off is still a connection error with the bytes that arrived, a
    # stalled one a timeout, never a partial body taken as complete.
    fake_provider.responder = streamed
    requests_file = tmp_path / "requests.jsonl"
    request = RequestSpec(path="/v1/chat/completions", json={"stream": True}, timeout_s=0.6)
    host = fake_provider.url.removesuffix("/v1")
    config = config_for(
        host, requests_file, request=request, validators=(ContainsValidator(text="[DONE]"),)
    )
    result = run_locust(config)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    seen: Counter[str] = Counter()
    for row in read_records(requests_file):
        kind = STREAM_ROTATION.plan[row.request_id]
        seen[kind] += 1
        assert row.status == 200 and row.ttft_ms is None and row.itl_ms is None
        if kind == "cut":
            assert (row.ok, row.error_class, row.valid) == (False, "connection", None)
            assert row.error is not None and row.error.startswith("body cut after 25 bytes")
            assert row.bytes == 25
        elif kind == "stalled":
            assert (row.ok, row.error_class, row.valid) == (False, "timeout", None)
        else:
            assert (row.ok, row.error_class, row.valid) == (True, None, True)
            assert row.bytes > 25
    assert set(seen) == {"ok", "cut", "stalled"}, seen


def test_time_to_first_byte_through_the_streaming_sut(
    run_locust: RunLocust, fake_provider: FakeProvider, tmp_path: Path
) -> None:
    fake_provider.responder = always(sse_reply(("Back", "off", "."), delay_s=0.2))
    sut = start_ready_process(sut_command(fake_provider.url, "naive"), tmp_path / "sut.stderr")
    try:
        requests_file = tmp_path / "requests.jsonl"
        request = RequestSpec(json={"question": "what is backoff?", "stream": True}, stream=True)
        validators = (ContainsValidator(text='"done": true'),)
        config = config_for(
            sut.url, requests_file, users=1, run_time_s=2, request=request, validators=validators
        )
        result = run_locust(config)
    finally:
        sut.stop()

    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    assert rows, result.stderr[-3000:]
    for row in rows:
        assert (row.status, row.ok, row.valid) == (200, True, True)
        assert row.ttft_ms is not None
        # The SUT forwards the first delta at once and the rest 2 x 200 ms later.
        assert row.latency_ms - row.ttft_ms >= 300


def test_sigterm_in_the_open_model_sends_nothing_new_and_records_what_is_in_flight(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    # The open-model dispatcher used to go on sending arrivals after SIGTERM until Locust killed
    # it at --stop-timeout; the requests it had just sent were answered but never recorded.
    fake_provider.responder = always(Reply(hang_s=0.05))
    stopped = _sigterm_after(
        fake_provider, tmp_path, 40,
        model="open", rate=80.0, arrivals="constant", stop_timeout_s=2,
    )  # fmt: skip

    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    rows = stopped.rows
    assert all(row.ok for row in rows)
    assert len(rows) == len(fake_provider.snapshot())  # nothing sent went unrecorded
    # Nothing new after the signal (the SIGTERM handler's drain takes well under a second).
    assert max(row.t_start for row in rows) < stopped.signalled + 1.0
