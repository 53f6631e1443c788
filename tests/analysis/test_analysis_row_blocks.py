"""Example lookups read only the blocks the loader saw the rows in, and give what a full scan
gives; the vectorised reductions (last call per request, figures per provider) match the pandas
definitions they replaced."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from harness.analysis import row_blocks
from harness.analysis.fast_read import hash_strings
from harness.analysis.loading import load_run
from harness.analysis.metrics import _by_provider, prepare_run
from harness.analysis.models import PhaseMetrics
from harness.analysis.phases import build_timeline
from harness.analysis.request_ids import resolve_request_ids
from harness.analysis.resilience_calls import ChainCalls, last_call_rows
from harness.analysis.synthetic import RunDirWriter, write_demo_run
from harness.analysis.traces import build_traces


def _write(w: RunDirWriter, requests: int) -> list[str]:
    ids = []
    for i in range(requests):
        rid = w.request(i * 0.01, ok=i % 7 != 0)
        for k in range(1 + i % 3):
            w.provider_call(i * 0.01 + k * 0.001, request_id=rid, status=200 if k else 500)
        ids.append(rid)
    w.close()
    return ids


def test_lookups_after_load_read_few_blocks_and_match_a_full_scan(
    run_writer: RunDirWriter,
) -> None:
    ids = _write(run_writer, 600)
    run_dir = run_writer.run_dir
    wanted = [ids[3], ids[299], ids[598]]
    hashes = [int(h) for h in hash_strings(pl.Series(wanted, dtype=pl.String))]

    row_blocks._FILES.clear()
    scanned_names = resolve_request_ids(run_dir, hashes)
    scanned = build_traces(run_dir, [(rid, "why") for rid in wanted])

    load_run(run_dir, chunk_rows=50)
    blocks = row_blocks.blocks_of(run_dir / "provider_calls.jsonl")
    assert blocks is not None and blocks.offsets.size >= 6  # 64 KiB blocks at least
    assert blocks.hashes.size == sum(1 + i % 3 for i in range(600))
    read = row_blocks.read_blocks_holding(
        run_dir / "provider_calls.jsonl", blocks, np.array(hashes, dtype=np.uint64)
    )
    assert 3 <= len(read) <= 4  # the blocks of three requests, not the file
    assert (
        resolve_request_ids(run_dir, hashes)
        == scanned_names
        == dict(zip(hashes, wanted, strict=True))
    )
    traced = build_traces(run_dir, [(rid, "why") for rid in wanted])
    assert traced == scanned
    assert [len(t.calls) for t in traced] == [1, 3, 2]

    # A file changed since it was loaded is scanned again, not looked up.
    with (run_dir / "requests.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("\n")
    assert row_blocks.blocks_of(run_dir / "requests.jsonl") is None
    assert resolve_request_ids(run_dir, hashes) == scanned_names


def _calls(rid: np.ndarray, t: np.ndarray) -> ChainCalls:
    n = rid.size
    zeros, false = np.zeros(n), np.zeros(n, dtype=bool)
    ints = np.zeros(n, dtype=np.int64)
    return ChainCalls(
        rid=rid.astype(np.uint64), t=t, t_end=t, status=zeros, ok=false, cut=false,
        stream=false, retry_after=zeros, prev_asked=zeros, self_timed=false, retry_count=zeros,
        phase=ints, provider_cut=false, paused=false, retry=false, retry_no=ints, gap=zeros,
        chain=ints, chain_phase=ints, req_t_end=zeros, req_status=zeros, req_timeout=false,
        tokens=zeros,
    )  # fmt: skip


def test_last_call_per_request_matches_a_stable_sort_with_ties_and_missing_times() -> None:
    rng = np.random.default_rng(3)
    rid = np.sort(rng.integers(1, 300, 4000))
    t = rng.integers(0, 40, rid.size).astype(np.float64)  # many ties
    t[rng.random(rid.size) < 0.05] = np.nan
    mask = rng.random(rid.size) < 0.7
    rows = np.flatnonzero(mask)
    frame = pd.DataFrame({"rid": rid[rows], "t": t[rows], "row": rows})
    expected = frame.sort_values("t", kind="stable").drop_duplicates("rid", keep="last")
    got = last_call_rows(_calls(rid, t), mask)
    assert np.array_equal(np.sort(got), np.sort(expected["row"].to_numpy()))


def test_figures_per_provider_and_endpoint_match_a_pandas_groupby(tmp_path: Path) -> None:
    """metrics._by_provider (a mask per code) against the groupby it replaced, with calls of
    no known provider or endpoint (code -1) among three providers and four endpoints."""
    run = write_demo_run(tmp_path / "demo")
    data = load_run(run)
    timeline = build_timeline(data.events, warmup_s=None, data_start=None, data_end=None)
    base = prepare_run(data, timeline, None)
    rng = np.random.default_rng(5)
    n = base.call_t.size
    prepared = dataclasses.replace(
        base,
        call_provider=rng.integers(-1, 3, n),
        call_provider_names=["a", "b", "c"],
        call_endpoint=rng.integers(-1, 4, n),
        call_endpoint_names=["/e0", "/e1", "/e2", "/e3"],
    )
    mask = rng.random(n) < 0.8
    got = PhaseMetrics()
    _by_provider(prepared, mask, got)

    frame = pd.DataFrame(
        {
            "p": prepared.call_provider[mask],
            "e": prepared.call_endpoint[mask],
            "failed": prepared.call_failed[mask],
            "tokens": prepared.call_tokens[mask],
            "d": prepared.call_duration_ms[mask],
        }
    )

    def name(code: int, table: list[str]) -> str:
        return table[code] if code >= 0 else "unknown"

    expected = [
        (name(int(p), ["a", "b", "c"]), len(g), int(g["failed"].sum()), int(g["tokens"].sum()))
        for p, g in frame.groupby("p", sort=True)
    ]
    assert [(k, f.calls, f.failed_calls, f.tokens) for k, f in got.by_provider.items()] == expected
    pairs = frame.groupby(["p", "e"], sort=True)
    expected_keys = [
        f"{name(int(p), ['a', 'b', 'c'])} {name(int(e), ['/e0', '/e1', '/e2', '/e3'])}"
        for (p, e), _ in pairs
    ]
    assert list(got.by_endpoint) == expected_keys
    assert [f.calls for f in got.by_endpoint.values()] == [len(g) for _, g in pairs]
    durations = [g["d"].dropna().to_numpy() for _, g in pairs]
    assert [f.latency_p95_ms for f in got.by_endpoint.values()] == [
        float(np.percentile(d, 95)) if d.size else None for d in durations
    ]
