"""Ground truth, end to end: services whose behaviour is known exactly, run by the real CLI
(every component a real process, real Locust, the official openai SDK), and the verdicts brownout
gives about them.

* exactly N+1 attempts under 100% 500s → retry amplification N+1 within 1 % (10 s window);
* the openai SDK with its default retries → 3.0 within 2 %;
* a fault that cannot be applied (its proxy deleted mid-run) → exit 3, ``valid: false``;
* the mock provider SIGKILLed mid-run → exit 3, ``valid: false``, never PASSED;
* the resilient example service, beside a CPU hog → ``recovered``, run after run.

Reproduce one by hand: ``brownout run tests/groundtruth/scenarios/nplus1.yaml``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SCENARIOS = HERE / "scenarios"

pytestmark = pytest.mark.slow


def brownout(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def only_run_dir(reports: Path) -> Path:
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def run_cli(
    scenario: Path, reports: Path, *extra: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        brownout("run", str(scenario), "--reports-dir", str(reports), *extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=reports.parent,
        check=False,
    )


def test_exactly_n_plus_1_attempts_read_as_amplification_n_plus_1(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_cli(SCENARIOS / "nplus1.yaml", reports)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_json(only_run_dir(reports) / "summary.json")
    fault = summary["phases"]["fault"]
    assert summary["amplification"]["method"] == "attributed"
    assert summary["phases"]["baseline"]["fan_out"] == pytest.approx(1.0, abs=1e-9)
    assert fault["retry_amplification"] == pytest.approx(4.0, rel=0.01)
    assert fault["attempts_per_request"]["p50"] == 4.0
    assert fault["attempts_per_request"]["max"] == 4.0
    # Every extra attempt went to the same provider and endpoint: retries, no failover.
    assert fault["failover_calls"] == 0
    assert fault["retry_calls"] == pytest.approx(3 * fault["requests"], rel=0.02)
    assert summary["phases"]["baseline"]["error_rate"] == 0.0  # the fault never leaks back
    assert "brownout: PASSED" in result.stdout


def test_openai_sdk_default_retries_read_as_amplification_3(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    result = run_cli(SCENARIOS / "openai_sdk.yaml", reports)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_json(only_run_dir(reports) / "summary.json")
    fault = summary["phases"]["fault"]
    assert summary["amplification"]["method"] == "attributed"
    assert fault["retry_amplification"] == pytest.approx(3.0, rel=0.02)
    assert fault["attempts_per_request"]["max"] == 3.0
    # The SDK numbers its retries in x-stainless-retry-count: 2 of every 3 fault calls.
    assert fault["sdk_retry_calls"] == pytest.approx(2 / 3 * fault["provider_attempts"], rel=0.1)


def _sabotage_when_loaded(run_dir_of: Any, action: Any, *, after_s: float) -> threading.Thread:
    def body() -> None:
        run_dir = wait_until(run_dir_of, 120, what="the run directory")
        wait_until(
            lambda: any(e["type"] == "load_started" for e in events(run_dir)),
            180,
            what="load_started",
        )
        time.sleep(after_s)
        action(run_dir)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def _first_run_dir(reports: Path) -> Path | None:
    if not reports.is_dir():
        return None
    runs = [p for p in reports.iterdir() if p.is_dir()]
    return runs[0] if runs else None


def test_a_fault_that_cannot_be_applied_makes_the_run_invalid(tmp_path: Path) -> None:
    """The proxy is deleted behind brownout's back before its fault is due: Toxiproxy answers
    404, the fault is not in effect, and the verdict must say the run tested nothing."""
    reports = tmp_path / "reports"

    def delete_proxy(run_dir: Path) -> None:
        api = read_json(run_dir / "run.json")["components"]["toxiproxy"]
        httpx.delete(f"{api}/proxies/openai", trust_env=False).raise_for_status()

    saboteur = _sabotage_when_loaded(lambda: _first_run_dir(reports), delete_proxy, after_s=1.0)
    result = run_cli(SCENARIOS / "proxied.yaml", reports)
    saboteur.join(10)
    run_dir = only_run_dir(reports)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "PASSED" not in result.stdout and "PASSED" not in result.stderr
    assert result.stdout.count("brownout: INVALID RUN") == 1  # one verdict, cleanup or not
    summary = read_json(run_dir / "summary.json")
    assert summary["valid"] is False and summary["passed"] is False
    assert summary["verdict"] == "invalid"
    assert any("'slow-network' could not be applied" in p for p in summary["validity_problems"])
    assert read_json(run_dir / "run.json")["valid"] is False
    invalidating = [e for e in events(run_dir) if e.get("invalidates") is True]
    assert any(e["source"] == "fault" for e in invalidating)
    junit = (run_dir / "junit.xml").read_text()
    assert 'name="run is valid"' in junit and "InvalidRun" in junit
    assert "INVALID RUN" in (run_dir / "report.html").read_text()


def test_a_killed_mock_provider_makes_the_run_invalid(tmp_path: Path) -> None:
    reports = tmp_path / "reports"

    def kill_provider(run_dir: Path) -> None:
        started = [e for e in events(run_dir) if e["type"] == "process_started"]
        pid = next(e["pid"] for e in started if e["name"] == "provider-openai")
        os.kill(pid, signal.SIGKILL)

    saboteur = _sabotage_when_loaded(lambda: _first_run_dir(reports), kill_provider, after_s=3.0)
    result = run_cli(SCENARIOS / "proxied.yaml", reports)
    saboteur.join(10)
    run_dir = only_run_dir(reports)
    assert result.returncode == 3, result.stderr[-3000:]
    assert "PASSED" not in result.stdout
    summary = read_json(run_dir / "summary.json")
    assert summary["valid"] is False and summary["verdict"] == "invalid"
    assert any("provider-openai exited" in p for p in summary["validity_problems"])
    assert read_json(run_dir / "run.json")["valid"] is False


HOG = """
import time
end = time.monotonic() + float(__import__("sys").argv[1])
while time.monotonic() < end:
    sum(i * i for i in range(10_000))
"""


@pytest.mark.timeout(900)
def test_resilient_service_is_judged_recovered_beside_a_cpu_hog(tmp_path: Path) -> None:
    """The recovery verdict must not flip on a busy machine: three runs, each with a process
    burning a core beside it (bounded in time), all judged ``recovered``. At --time-scale 0.5
    (the scale at which the old k-in-a-row rule called it metastable in 1 of 3 runs) the
    recovery phase lasts 10 s, long enough for the rule to give a verdict either way; at 0.25
    it lasts 5 s, and a slow first seconds make the honest answer ``undetermined``."""
    verdicts = []
    for attempt in range(3):
        reports = tmp_path / f"reports-{attempt}"
        hog = subprocess.Popen([sys.executable, "-c", HOG, "120"])
        try:
            result = run_cli(ROOT / "scenarios" / "resilient.yaml", reports, "--time-scale", "0.5")
        finally:
            hog.kill()
            hog.wait(10)
        assert result.returncode in (0, 1), result.stderr[-3000:]
        recovery = read_json(only_run_dir(reports) / "summary.json")["recovery"]
        verdicts.append((recovery["verdict"], recovery["reason"]))
    assert [v for v, _ in verdicts] == ["recovered"] * 3, verdicts
