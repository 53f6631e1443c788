"""The polars fast path reads exactly what the reference (orjson) reader reads.

``loading`` trusts polars only where it cannot disagree with its own decoding; these tests
compare the two paths frame for frame, on a synthetic run and on lines built to tempt polars
into a different answer (numbers in text fields, a half-written line, blank lines, traceparents).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis import loading
from harness.analysis.loading import CALL_COLUMNS, REQUEST_COLUMNS, read_jsonl_frame
from harness.analysis.synthetic import write_demo_run


def _reference(
    path: Path, columns: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> pd.DataFrame:
    with monkeypatch.context() as patch:
        patch.setattr(loading, "fast_chunk", lambda *args: None)
        return read_jsonl_frame(path, columns, chunk_rows=7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "columns"),
    [("requests.jsonl", REQUEST_COLUMNS), ("provider_calls.jsonl", CALL_COLUMNS)],
)
def test_fast_and_reference_readers_agree_on_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, columns: dict[str, str]
) -> None:
    run = write_demo_run(tmp_path / "demo")
    fast = read_jsonl_frame(run / name, columns, chunk_rows=7)  # type: ignore[arg-type]
    assert len(fast) > 1_000
    pd.testing.assert_frame_equal(fast, _reference(run / name, columns, monkeypatch))


AWKWARD = [
    '{"t": 1.5, "request_id": "a", "fingerprint": "f", "name": "openai", "status": 200}',
    '{"t": 2, "request_id": 5, "fingerprint": "f", "name": "openai", "status": 200}',
    '{"t": 3, "request_id": "b", "name": 7, "status": 500, "fault": "x,y"}',
    '{"t": 4, "request_id": "c", "status": "oops", "stream_completed": 1}',
    "",
    "   ",
    '{"t": 5, "traceparent": "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"}',
    '{"t": 6, "traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"}',
    '{"t": 7, "traceparent": "garbage", "request_id": "d"}',
    '{"t": 8, "request_id": "e", "model": "gpt-4o", "stream": true, "stream_completed": false}',
    "[1, 2]",
    '{"t": 9, "request_id": "f"} trailing',
    '{"t": 10, "request_id": "g", "status": 200, "tokens_in": 12345678901234567890}',
    '{"t": 11, "request_id": "h", "status": 2',
]


@pytest.mark.parametrize("chunk_rows", [1, 3, 100])
def test_awkward_lines_read_the_same_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    path = tmp_path / "provider_calls.jsonl"
    path.write_text("\n".join(AWKWARD))
    fast = read_jsonl_frame(path, CALL_COLUMNS, chunk_rows=chunk_rows)
    with monkeypatch.context() as patch:
        patch.setattr(loading, "fast_chunk", lambda *args: None)
        reference = read_jsonl_frame(path, CALL_COLUMNS, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(fast, reference)
    # The reference rules themselves: a number is no id, and a bad traceparent no trace id.
    assert fast["request_id"].to_numpy()[1] == 0
    assert fast["traceparent"].to_numpy()[4] != 0
    assert (fast["traceparent"].to_numpy()[5:7] == 0).all()
    assert np.isnan(fast["status"].to_numpy()[3])


def test_a_clean_chunk_takes_the_fast_path(tmp_path: Path) -> None:
    """Guard against the fast path silently never running (it would still pass the above)."""
    path = tmp_path / "provider_calls.jsonl"
    path.write_text("\n".join(AWKWARD[:1] * 10) + "\n")
    blob = path.read_bytes()
    assert loading.fast_chunk(blob, 10, CALL_COLUMNS) is not None
    assert loading.fast_chunk(b"\n".join([blob, AWKWARD[1].encode()]), 11, CALL_COLUMNS) is None


@pytest.mark.parametrize("value", ["5", "-0.5e1", "true", "false", '{"a": 1}', "[1]", "0"])
def test_a_non_string_id_sends_the_chunk_the_slow_way(value: str) -> None:
    """polars would read these as the text "5", "true", '{"a": 1}'…: never as an id."""
    clean = (AWKWARD[0] + "\n") * 3
    line = '{"t": 1, "request_id": %s, "traceparent": %s}\n'
    assert loading.fast_chunk((clean + line % (value, "null")).encode(), 4, CALL_COLUMNS) is None
    assert loading.fast_chunk((clean + line % ('"a"', value)).encode(), 4, CALL_COLUMNS) is None
    # The same characters as a JSON string are an id, and take the fast path.
    quoted = (clean + line % (json.dumps(value), "null")).encode()
    frame = loading.fast_chunk(quoted, 4, CALL_COLUMNS)
    assert frame is not None
    assert frame["request_id"].to_numpy()[3] == loading.hash_ids(np.array([value], object))[0]


def test_fault_sets_by_bitmask_match_the_set_per_request() -> None:
    """impact._names_met (bitmask OR) against the straightforward set union per request."""
    from harness.analysis.impact import _names_met

    rng = np.random.default_rng(3)
    choices = np.array(["", "a", "b,a", "c", "toxic-1,c", "b"], dtype=object)
    rids = rng.integers(1, 200, 5_000).astype(np.uint64)
    values = choices[rng.integers(0, len(choices), 5_000)]
    index = pd.Index(pd.unique(rids))
    got = _names_met(rids, values, index)
    frame = pd.DataFrame({"rid": rids, "v": values}).groupby("rid", sort=False)["v"]
    want = frame.agg(lambda s: ",".join(sorted({p for v in s for p in v.split(",") if p})))
    assert got.tolist() == want.reindex(index).tolist()


def test_a_line_longer_than_a_read_block_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "provider_calls.jsonl"
    short = '{"t": 1, "request_id": "a"}\n'
    long = '{"t": 2, "request_id": "b", "pad": "' + "x" * 300_000 + '"}\n'
    path.write_text(short * 3 + long + short + long.rstrip("\n"))
    frame = read_jsonl_frame(path, CALL_COLUMNS, chunk_rows=1)
    assert frame["t"].tolist() == [1.0, 1.0, 1.0, 2.0, 1.0, 2.0]
