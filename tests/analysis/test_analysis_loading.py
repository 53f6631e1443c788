"""Reading run files: bounded memory for large files, tolerance for crash leftovers."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import analyze_run, load_run
from harness.analysis.loading import CALL_COLUMNS, REQUEST_COLUMNS, read_jsonl_frame
from harness.analysis.synthetic import DEMO_T0

ROWS = 200_000


def write_big_run(run_dir: Path) -> None:
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text(
        f'{{"t": {DEMO_T0}, "type": "load_started", "users": 50}}\n'
        f'{{"t": {DEMO_T0 + 100}, "type": "fault_applied", "fault": "f", "kind": "error",'
        f' "target": "provider/p", "planned_t": {DEMO_T0 + 100}, "params": {{}}}}\n'
        f'{{"t": {DEMO_T0 + 150}, "type": "fault_removed", "fault": "f", "kind": "error",'
        f' "target": "provider/p", "planned_t": {DEMO_T0 + 150}, "params": {{}}}}\n'
        f'{{"t": {DEMO_T0 + 200}, "type": "load_stopped", "users": 50}}\n'
    )
    template = (
        '{{"t_start":{t:.6f},"t_end":{e:.6f},"name":"POST /ask","status":{s},"ok":{ok},'
        '"latency_ms":{lat},"ttft_ms":null,"bytes":512,"error":null,"error_class":{ec},'
        '"request_id":"req-{i:012d}-aaaaaaaaaaaaaaaa","valid":true}}\n'
    )
    with (run_dir / "requests.jsonl").open("w") as handle:
        for start in range(0, ROWS, 10_000):
            lines = []
            for i in range(start, start + 10_000):
                t = DEMO_T0 + i * (200.0 / ROWS)
                failed = i % 10 == 0
                lines.append(
                    template.format(
                        t=t,
                        e=t + 0.1,
                        s=503 if failed else 200,
                        ok="false" if failed else "true",
                        lat=100 + i % 100,
                        ec='"http_503"' if failed else "null",
                        i=i,
                    )
                )
            handle.write("".join(lines))


def test_large_request_file_is_read_in_chunks_with_bounded_memory(tmp_path: Path) -> None:
    run_dir = tmp_path / "big"
    write_big_run(run_dir)
    size_mb = (run_dir / "requests.jsonl").stat().st_size / 1e6

    tracemalloc.start()
    try:
        data = load_run(run_dir, chunk_rows=20_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert len(data.requests) == ROWS
    # Chunks are cut at a newline after about chunk_rows lines.
    assert abs(data.chunks_read["requests.jsonl"] - ROWS // 20_000) <= 1
    # A list of the 200k row dicts alone takes ~170 MB (each dict with its values is ~0.9 kB);
    # chunked reading into typed columns (ids hashed to uint64) stays below the file's size.
    assert peak < size_mb * 1e6, f"peak {peak / 1e6:.0f} MB for a {size_mb:.0f} MB file"
    assert data.requests["t_start"].dtype == np.float64
    assert data.requests["ok"].dtype == np.bool_
    assert str(data.requests["error_class"].dtype) == "category"
    assert data.requests["request_id"].dtype == np.uint64

    summary = analyze_run(run_dir, [], chunk_rows=20_000)
    assert summary.phases["run"].requests == ROWS
    # Requests still in flight when the fault began are fault-phase requests (boundary rule).
    baseline, fault = summary.phases["baseline"].requests, summary.phases["fault"].requests
    assert baseline is not None and fault is not None
    assert ROWS // 2 - 1_000 < baseline <= ROWS // 2
    assert summary.phases["fault"].error_rate is not None
    assert summary.phases["fault"].error_rate == pytest.approx(0.1, rel=0.01)


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(
        '{"t_start": 1.0, "ok": true, "latency_ms": 5}\n'
        "not json\n"
        "[1, 2]\n"
        "\n"
        '{"t_start": "oops", "ok": "yes", "latency_ms": null, "error_class": 7}\n'
        '{"t_start": 3.0, "ok": false, "latency_ms": 1'
    )
    frame = read_jsonl_frame(path, REQUEST_COLUMNS, chunk_rows=1)
    assert frame["t_start"].tolist()[0] == 1.0
    assert np.isnan(frame["t_start"].tolist()[1])
    assert frame["ok"].tolist() == [True, False]
    assert frame["error_class"].isna().tolist() == [True, True]
    run = load_run(tmp_path)
    assert run.skipped_lines == {"requests.jsonl": 3}


def test_empty_run_directory(tmp_path: Path) -> None:
    data = load_run(tmp_path)
    assert list(data.requests.columns) == list(REQUEST_COLUMNS)
    assert data.events == []
    assert data.run_info == {}
    summary = analyze_run(tmp_path, [])
    assert summary.valid is False
    assert summary.phases["baseline"].requests is None
    assert summary.timeseries.t == []


def test_a_field_null_in_a_whole_chunk_still_concatenates(tmp_path: Path) -> None:
    path = tmp_path / "provider_calls.jsonl"
    rows = [f'{{"t": {i}, "fault": null, "status": 200}}' for i in range(4)]
    rows += ['{"t": 4, "fault": "errors", "status": 500}', '{"t": 5, "status": 200}']
    path.write_text("\n".join(rows) + "\n")
    frame = read_jsonl_frame(path, CALL_COLUMNS, chunk_rows=2)
    assert frame["fault"].iloc[4] == "errors"
    assert frame["fault"].isna().tolist() == [True, True, True, True, False, True]
    assert str(frame["fault"].dtype) == "category"
    assert frame["t"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
