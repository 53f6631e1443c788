"""Distributed load on Locust's master/worker mode: two local workers send what one process
sends (the open-model schedule is split between them, not duplicated or thinned)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from load_groundtruth_sut import SlowProvider, serving
from load_support import RunLocust

from harness.load import (
    LoadConfig,
    RequestRecord,
    build_locust_command,
    build_locust_env,
    build_worker_command,
    read_records,
)
from harness.run.load_process import _free_port

RATE = 30.0


def config(host: str, requests_file: Path, workers: int) -> LoadConfig:
    return LoadConfig.from_dict(
        {
            "host": host,
            "model": "open",
            "rate": RATE,
            "arrivals": "constant",
            "run_time_s": 4,
            "requests_file": str(requests_file),
            "stop_timeout_s": 1,
            "workers": workers,
            "seed": 3,
        }
    )


def run_distributed(directory: Path, load: LoadConfig) -> str:
    """Run a master and ``load.workers`` workers to completion; the master's output."""
    config_path = directory / "load_config.json"
    load.write(config_path)
    env = build_locust_env(config_path)
    port = _free_port()
    master = subprocess.Popen(
        build_locust_command(config_path, load, master_port=port),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    workers = [
        subprocess.Popen(
            build_worker_command("127.0.0.1", port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(load.workers)
    ]
    try:
        output, _ = master.communicate(timeout=120)
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert master.returncode == 0, output[-3000:]
    return output


def steady(rows: list[RequestRecord]) -> tuple[int, float]:
    """Requests due in [0.5 s, 3 s) of the schedule, and their rate."""
    t0 = min(r.t_start for r in rows)
    due = sorted(r.t_start - t0 for r in rows if 0.5 <= r.t_start - t0 < 3.0)
    return len(due), (len(due) - 1) / (due[-1] - due[0])


@pytest.mark.slow
def test_two_workers_send_what_one_process_sends(run_locust: RunLocust, tmp_path: Path) -> None:
    endpoint = SlowProvider(latency_s=0.01)
    with serving(endpoint) as url:
        single = tmp_path / "single" / "requests.jsonl"
        single.parent.mkdir()
        result = run_locust(config(url, single, workers=1))
        assert result.returncode == 0, result.stderr[-3000:]
        split = tmp_path / "split"
        split.mkdir()
        run_distributed(split, config(url, split / "requests.jsonl", workers=2))

    shards = sorted(split.glob("requests.w*.jsonl"))
    assert [p.name for p in shards] == ["requests.w0.jsonl", "requests.w1.jsonl"]
    per_worker = [list(read_records(p)) for p in shards]
    assert all(len(rows) > 20 for rows in per_worker), [len(rows) for rows in per_worker]
    together = [row for rows in per_worker for row in rows]
    one = list(read_records(single))

    count_one, rate_one = steady(one)
    count_two, rate_two = steady(together)
    assert abs(count_two - count_one) <= 1, (count_one, count_two)
    assert rate_one == pytest.approx(RATE, rel=0.02)
    assert rate_two == pytest.approx(RATE, rel=0.02)
    # Each worker sends every other arrival: half the rate each.
    for rows in per_worker:
        assert steady(rows)[1] == pytest.approx(RATE / 2, rel=0.03)
    lags = sorted(r.schedule_lag_ms or 0.0 for r in together)
    assert lags[len(lags) // 2] < 20, lags[-10:]
