"""requests.jsonl records and response validators, without Locust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load import (
    ContainsValidator,
    JsonFieldValidator,
    LoadHealthSample,
    RecordFormatError,
    RequestLogWriter,
    RequestRecord,
    check_body,
    error_class_for_status,
    read_health,
    read_records,
    saturation,
)
from harness.load.records import is_error_class


def record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "t_start": 1764160000.123,
        "t_end": 1764160000.456,
        "name": "POST /ask",
        "status": 200,
        "ok": True,
        "latency_ms": 333.0,
        "ttft_ms": None,
        "bytes": 512,
        "error": None,
        "error_class": None,
        "request_id": "b3f1",
        "valid": True,
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def test_json_line_has_the_documented_keys_in_order() -> None:
    line = record().to_json()
    assert "\n" not in line
    assert list(json.loads(line)) == [
        "t_start",
        "t_end",
        "name",
        "status",
        "ok",
        "latency_ms",
        "ttft_ms",
        "bytes",
        "error",
        "error_class",
        "request_id",
        "valid",
        "itl_ms",
        "schedule_lag_ms",
    ]


@given(
    status=st.just(0) | st.integers(min_value=100, max_value=599),
    start=st.floats(min_value=0, max_value=2e9),
    latency=st.floats(min_value=0, max_value=1e6),
    error=st.none() | st.text(max_size=50),
    valid=st.none() | st.booleans(),
)
def test_records_round_trip(
    status: int, start: float, latency: float, error: str | None, valid: bool | None
) -> None:
    error_class = "connection" if status == 0 else error_class_for_status(status)
    original = record(
        status=status,
        t_start=start,
        t_end=start + latency / 1000,
        latency_ms=latency,
        error=error,
        error_class=error_class,
        ok=error_class is None,
        valid=valid,
    )
    assert RequestRecord.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("[]", "expected a JSON object"),
        ("{", "not JSON"),
        (json.dumps({"t_start": 1}), "missing keys"),
        (record().to_json()[:-1] + ',"x":1}', "unknown keys"),
        (record(status=-1).to_json(), "status"),
        (record(error_class="boom", ok=False).to_json(), "error_class"),
        (record(error_class="http_500").to_json(), "ok is True but error_class"),
        (record(t_end=1.0).to_json(), "before t_start"),
        (record(request_id="").to_json(), "request_id"),
    ],
)
def test_bad_records_are_rejected_with_the_reason(line: str, complaint: str) -> None:
    with pytest.raises(RecordFormatError, match=complaint):
        RequestRecord.from_json(line)


def test_error_classes() -> None:
    assert error_class_for_status(200) is None
    assert error_class_for_status(302) is None
    assert error_class_for_status(429) == "http_429"
    assert error_class_for_status(504) == "http_504"
    assert all(is_error_class(c) for c in (None, "timeout", "connection", "validation"))
    assert not is_error_class("http_5000") and not is_error_class("reset")


def test_writer_appends_flushed_lines_and_reader_skips_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "run" / "requests.jsonl"
    writer = RequestLogWriter(path)
    writer.write(record(request_id="a"))
    # Flushed per line: readable while the writer is still open (as after a crash).
    assert [r.request_id for r in read_records(path)] == ["a"]
    writer.write(record(request_id="b"))
    writer.close()
    with path.open("a") as handle:
        handle.write(record(request_id="c").to_json()[:40])  # a killed writer's last line
    assert [r.request_id for r in read_records(path)] == ["a", "b"]


def test_reader_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(record().to_json() + "\n" + "{}\n")
    with pytest.raises(RecordFormatError, match=r"requests\.jsonl:2: missing keys"):
        list(read_records(path))


def test_validators_judge_the_body() -> None:
    answer = JsonFieldValidator(field="answer", non_empty=True)
    nested = JsonFieldValidator(field="sources.0.id", equals="p3")
    contains = ContainsValidator(text="breaker")
    good = json.dumps({"answer": "a breaker", "sources": [{"id": "p3"}]}).encode()

    assert check_body((), good) == (None, None)
    assert check_body((answer, nested, contains), good) == (True, None)
    assert check_body((answer,), b'{"answer": ""}') == (False, "field 'answer' is empty")
    assert check_body((answer,), b"{}") == (False, "field 'answer' is missing")
    assert check_body((answer,), b"<html>") == (False, "body is not JSON")
    assert check_body((nested,), b'{"sources": [{"id": "p1"}]}')[0] is False
    assert check_body((contains,), b"\xff") == (False, "body does not contain 'breaker'")


def sample(t: float, cpu: float, lag: float) -> LoadHealthSample:
    return LoadHealthSample(t=t, cpu_percent=cpu, users=2, requests=int(t) * 10, lag_ms=lag)


def test_saturation_needs_a_sustained_overload() -> None:
    calm = [sample(t, 30.0, 2.0) for t in range(10)]
    assert saturation(calm) is None
    assert saturation([*calm, sample(10, 99.0, 2.0)]) is None  # one busy second is noise
    verdict = saturation([*calm, sample(10, 99.0, 2.0), sample(11, 40.0, 250.0)])
    assert verdict is not None
    assert "2 sample(s)" in verdict and "99%" in verdict and "250 ms" in verdict


def test_health_samples_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "load_health.jsonl"
    samples = [sample(1, 10.0, 1.5), sample(2, 20.0, 0.0)]
    path.write_text("".join(s.to_json() + "\n" for s in samples) + '{"t": 3')
    assert list(read_health(path)) == samples
