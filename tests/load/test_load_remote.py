"""`brownout run` with Locust workers, end to end: a remote `brownout worker` that shares no
file with the run sends its share of the load and its records reach the run directory; a local
worker killed mid-run makes the run invalid, naming the worker; remote workers that never join
end the run after ``--remote-timeout`` (not Locust's own 300 s) with exit 3, saying so.

Reproduce by hand (two shells): ``brownout run tests/load/scenarios/distributed.yaml --workers 1
--remote-workers 1 --master-bind 127.0.0.1:5557`` and ``brownout worker --master 127.0.0.1:5557``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from harness.load import CONFIG_ENV_VAR, read_records
from harness.run.load_process import _free_port

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "distributed.yaml"
RATE = 24.0
T = TypeVar("T")


def brownout(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def wait_until(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def run_dir_of(reports: Path) -> Path | None:
    runs = [p for p in reports.iterdir() if p.is_dir()] if reports.is_dir() else []
    return runs[0] if runs else None


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def steady_rate(due: list[float], t0: float) -> tuple[int, float]:
    """Requests due in [1 s, 7 s) of the load, and their rate (constant arrivals: exact)."""
    window = sorted(t - t0 for t in due if 1.0 <= t - t0 < 7.0)
    return len(window), (len(window) - 1) / (window[-1] - window[0])


def test_a_remote_worker_sends_its_share_and_its_records_reach_the_run(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    elsewhere = tmp_path / "elsewhere"  # the remote worker's own directory: no run files
    elsewhere.mkdir()
    port = _free_port()
    run = subprocess.Popen(
        brownout(
            "run", str(SCENARIO), "--reports-dir", str(reports), "-q",
            "--workers", "1", "--remote-workers", "1",
            "--master-bind", f"127.0.0.1:{port}", "--remote-timeout", "120",
        ),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != CONFIG_ENV_VAR}
    worker = None
    try:
        # Join once the master listens (the run writes its locustfile just before).
        wait_until(lambda: (d := run_dir_of(reports)) and (d / "brownout_load.py").exists(),
                   180, "the run's locustfile")  # fmt: skip
        worker = subprocess.Popen(
            brownout("worker", "--master", f"127.0.0.1:{port}"),
            cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        out, err = run.communicate(timeout=300)
        worker_out, _ = worker.communicate(timeout=60)
    finally:
        for process in (run, worker):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
    assert run.returncode == 0, (out + err)[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    assert list(elsewhere.iterdir()) == []  # nothing written where the worker ran
    run_dir = run_dir_of(reports)
    assert run_dir is not None
    joined = [
        json.loads(line) for line in (run_dir / "load_workers.jsonl").read_text().splitlines()
    ]
    assert [(j["event"], j["remote"]) for j in joined] == [("joined", True)]
    remote_index = joined[0]["index"]
    shards = {p.name: list(read_records(p)) for p in sorted(run_dir.glob("requests.w*.jsonl"))}
    assert sorted(shards) == ["requests.w0.jsonl", "requests.w1.jsonl"]
    remote_rows = shards[f"requests.w{remote_index}.jsonl"]
    t0 = next(e["t"] for e in events(run_dir) if e["type"] == "load_started")
    everything = [r.t_start for rows in shards.values() for r in rows]
    count, rate = steady_rate(everything, t0)
    assert count == pytest.approx(RATE * 6, abs=1)  # what one process sends in 6 s
    assert rate == pytest.approx(RATE, rel=0.02)
    for rows in shards.values():  # every other arrival each
        assert steady_rate([r.t_start for r in rows], t0)[1] == pytest.approx(RATE / 2, rel=0.03)
    assert all(r.ok for r in remote_rows), [r.error for r in remote_rows if not r.ok][:3]
    # The run's last arrivals are in too: the master waited for the remote worker's last batch.
    last_due = t0 + 8.0 - 1.0 / RATE * 2
    assert max(everything) >= last_due - 0.2, max(everything) - t0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["valid"] is True


def test_a_local_worker_killed_mid_run_makes_the_run_invalid(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = subprocess.Popen(
        brownout("run", str(SCENARIO), "--reports-dir", str(reports), "-q", "--workers", "2"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        run_dir = wait_until(lambda: run_dir_of(reports), 120, "the run directory")
        wait_until(lambda: any(e["type"] == "load_started" for e in events(run_dir)), 180,
                   "load_started")  # fmt: skip
        time.sleep(2.0)
        started = [e for e in events(run_dir) if e["type"] == "process_started"]
        pid = next(e["pid"] for e in started if e["name"] == "locust-worker-1")
        os.kill(pid, signal.SIGKILL)
        out, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)
    assert run.returncode == 3, (out + err)[-3000:]
    assert out.count("brownout: INVALID RUN") == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["valid"] is False and summary["verdict"] == "invalid"
    assert any("locust-worker-1" in p for p in summary["validity_problems"]), summary


def test_remote_workers_that_never_join_fail_the_run_after_the_remote_timeout(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    port = _free_port()
    run = subprocess.run(
        brownout(
            "run", str(SCENARIO), "--reports-dir", str(reports), "-q",
            "--workers", "1", "--remote-workers", "1",
            "--master-bind", f"127.0.0.1:{port}", "--remote-timeout", "3",
        ),
        # Well under Locust's own 300 s wait for workers, which is what this guards against.
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 3, (run.stdout + run.stderr)[-3000:]
    assert "Traceback" not in run.stderr
    message = "only 0 of 1 remote load worker(s) joined within 3s (--remote-timeout)"
    assert message in run.stderr, run.stderr[-3000:]
    run_dir = run_dir_of(reports)
    assert run_dir is not None
    info = json.loads((run_dir / "run.json").read_text())
    assert info["valid"] is False and info["exit_status"] == "error"
    assert any(message in problem for problem in info["validity_problems"]), info
    assert not list(run_dir.glob("requests*.jsonl")) or all(
        not list(read_records(p)) for p in run_dir.glob("requests*.jsonl")
    )
