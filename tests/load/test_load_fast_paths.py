"""The load driver's fast paths against the slow ones they replaced, on awkward inputs.

Records are serialised with orjson straight from the slotted dataclass, response bodies parsed
with orjson first, and request ids drawn from a per-process generator; each must give exactly
what the old code gave (``json.dumps(asdict(record))``, ``json.loads``, ``uuid4().hex``'s
format), including where the two libraries disagree.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.load import JsonFieldValidator, RequestLogWriter, RequestRecord, read_records
from harness.load.ids import new_request_id, traceparent
from harness.load.validators import _parse, check_body


def reference(record: RequestRecord) -> bytes:
    """What RequestRecord.to_json wrote before the fast path: the format's definition."""
    text = json.dumps(dataclasses.asdict(record), separators=(",", ":"), allow_nan=False)
    return text.encode("ascii")


def record(**overrides: object) -> RequestRecord:
    fields: dict[str, object] = {
        "t_start": 1764160000.123456,
        "t_end": 1764160000.456,
        "name": "POST /ask",
        "status": 200,
        "ok": True,
        "latency_ms": 333.0,
        "ttft_ms": None,
        "bytes": 512,
        "error": None,
        "error_class": None,
        "request_id": "0123456789abcdef0123456789abcdef",
        "valid": True,
        "itl_ms": None,
        "schedule_lag_ms": None,
    }
    fields.update(overrides)
    return RequestRecord(**fields)  # type: ignore[arg-type]


AWKWARD = [
    {},
    {"latency_ms": 0.0, "ttft_ms": 0.0, "itl_ms": -0.0, "schedule_lag_ms": 0.001},
    {"latency_ms": 9.999e-05},  # json.dumps writes an exponent here, orjson does not
    {"latency_ms": 1e-4, "ttft_ms": 5e-324, "itl_ms": 1e16, "schedule_lag_ms": 9.99e15},
    {"t_start": 0, "t_end": 3, "latency_ms": 3000},  # ints where floats usually are
    {"error": 'quote " backslash \\ newline \n tab \t nul \x00 esc \x1b del \x7f'},
    {"error": "non-ASCII: é — 漢字 😀 \u2028"},
    {"error": "a lone surrogate \ud800"},
    {"name": "", "request_id": "x" * 500, "error": "x" * 300},
    {"status": 2**70},  # beyond orjson's 64-bit integers
    {"bytes": 2**63 - 1, "status": 0, "ok": False, "error_class": "connection"},
    {"valid": None, "ok": False, "error_class": "validation", "error": "field 'a' is empty"},
]


@pytest.mark.parametrize("overrides", AWKWARD)
def test_fast_serialisation_is_byte_identical_to_json_dumps(overrides: dict[str, object]) -> None:
    item = record(**overrides)
    assert item.to_json_bytes() == reference(item)
    assert item.to_json() == reference(item).decode("ascii")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["t_start", "latency_ms", "ttft_ms", "schedule_lag_ms"])
def test_non_finite_numbers_are_refused_as_before(field: str, value: float) -> None:
    # json.dumps(allow_nan=False) raised; orjson alone would have written null.
    with pytest.raises(ValueError, match="Out of range float"):
        record(**{field: value}).to_json_bytes()


@given(
    floats=st.lists(
        st.floats(allow_nan=False, allow_infinity=False) | st.none(), min_size=6, max_size=6
    ),
    text=st.text(max_size=40),
    status=st.integers(min_value=0, max_value=2**65),
)
def test_fast_serialisation_matches_on_any_record(
    floats: list[float | None], text: str, status: int
) -> None:
    t_start, t_end, latency, ttft, itl, lag = floats
    item = record(
        t_start=t_start or 0.0,
        t_end=t_end or 0.0,
        latency_ms=latency or 0.0,
        ttft_ms=ttft,
        itl_ms=itl,
        schedule_lag_ms=lag,
        error=text,
        name=text,
        status=status,
    )
    assert item.to_json_bytes() == reference(item)


def test_batched_writer_holds_only_whole_lines_and_writes_all_at_close(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    writer = RequestLogWriter(path, batch_lines=3)
    writer.write(record(request_id="a"))
    writer.write(record(request_id="b"))
    assert path.read_bytes() == b""  # held: nothing, rather than part of a line
    writer.write(record(request_id="c"))  # the batch is full: written in one go
    assert [r.request_id for r in read_records(path)] == ["a", "b", "c"]
    writer.write(record(request_id="d"))
    writer.flush()  # the locustfile's timer
    assert path.read_bytes().endswith(b"\n")
    writer.unbuffered()  # the test is stopping: every line as it comes
    writer.write(record(request_id="e"))
    assert [r.request_id for r in read_records(path)] == ["a", "b", "c", "d", "e"]
    writer.write(record(request_id="f"))
    writer.close()
    assert path.read_bytes() == b"".join(reference(record(request_id=i)) + b"\n" for i in "abcdef")


BODIES = [
    b'{"answer": "ok"}',
    b'{"answer": 1, "answer": ""}',  # duplicate keys: the last one wins in both
    b'{"answer": NaN}',  # json.loads only
    b'{"answer": 1e400}',  # json.loads only (inf)
    b'{"answer": 123456789012345678901234567890}',  # beyond 64 bits: json.loads only
    b'{"answer": "\\ud800"}',  # lone surrogate escape: json.loads only
    b'\xef\xbb\xbf{"answer": "bom"}',  # a UTF-8 BOM: json.loads only
    '{"answer": "utf-16"}'.encode("utf-16"),  # json.loads detects UTF-16/32
    b'{"answer": -0, "n": 1.0}',
    b"[1,]",
    b"",
    b"\xff\xfe\xfd",
    b" 1 ",
]


@pytest.mark.parametrize("body", BODIES)
def test_body_parsing_reads_what_json_loads_reads(body: bytes) -> None:
    try:
        expected = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        assert check_body((JsonFieldValidator(field="answer"),), body) == (
            False,
            "body is not JSON",
        )
        return
    got = _parse(body)
    if "12345678901234567890" in repr(expected):  # orjson: a float; equals looks again
        exact = JsonFieldValidator(field="answer", equals=expected["answer"])
        rounded = JsonFieldValidator(field="answer", equals=1.2345678901234568e29)
        assert check_body((exact,), body) == (True, None)
        assert check_body((rounded,), body)[0] is False
        return
    assert repr(got) == repr(expected)  # repr: NaN != NaN, and -0 vs 0 types


def test_several_validators_share_one_parse_and_keep_their_order() -> None:
    first = JsonFieldValidator(field="a")
    second = JsonFieldValidator(field="b", equals=2)
    assert check_body((first, second), b'{"a": 1, "b": 3}') == (
        False,
        "field 'b' is 3, expected 2",
    )
    assert check_body((second, first), b'{"a": "", "b": 3}') == (
        False,
        "field 'b' is 3, expected 2",
    )


def test_request_ids_are_uuid4_shaped_unique_and_valid_trace_ids() -> None:
    ids = [new_request_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and i != "0" * 32 for i in ids)
    # Uniform bits: every hex digit appears in every position (a counter would not).
    assert all(len({i[p] for i in ids}) == 16 for p in range(32))
    parent = {traceparent(i).split("-")[2] for i in ids[:2000]}
    assert len(parent) == 2000
    assert all(re.fullmatch(r"[0-9a-f]{16}", p) and p != "0" * 16 for p in parent)
