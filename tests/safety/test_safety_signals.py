"""Interrupt real runs at many moments with single, double and KILL signals; nothing may be left:
no process, no bound port, no proxy or toxic (on an external Toxiproxy either), no provider
fault (they live in the mock, checked gone with its process). SIGKILLed runs are stopped by the
children's watchdogs; what an external Toxiproxy still holds is removed by ``brownout cleanup``
or by the start of the next ``brownout run``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.toxiproxy import ToxiproxyClient
from tests.safety.safety_support import (
    assert_nothing_left,
    event_types,
    ledger_entries,
    leftovers,
    send,
    start_run,
    wait_for_moment,
    write_scenario,
)

pytestmark = pytest.mark.slow

INT, TERM, HUP, KILL = signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL


def _ops(run_dir: Path) -> list[tuple[str, str]]:
    return [(e["op"], str(e.get("name", ""))) for e in ledger_entries(run_dir)]


def _run_json(run_dir: Path) -> dict[str, object]:
    try:
        data: dict[str, object] = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


MOMENTS: dict[str, Callable[[Path], bool]] = {
    "run_started": lambda d: ("run", "") in _ops(d),
    "provider_spawned": lambda d: ("process", "provider-llm") in _ops(d),
    "provider_ready": lambda d: ("port", "provider-llm") in _ops(d),
    "faultproxy_spawned": lambda d: ("process", "faultproxy") in _ops(d),
    "proxy_created": lambda d: ("proxy", "llm") in _ops(d),
    "sut_spawned": lambda d: ("process", "sut") in _ops(d),
    "locust_spawned": lambda d: ("process", "locust") in _ops(d),
    "load_started": lambda d: "load_started" in event_types(d),
    "faults_active": lambda d: {("toxic", "slow"), ("provider_fault", "p500")} <= set(_ops(d)),
    "recovery": lambda d: ("toxic_gone", "slow") in _ops(d),
    "reporting": lambda d: _run_json(d).get("report") == "pending",
}


@dataclass(frozen=True)
class Case:
    moment: str
    signals: tuple[signal.Signals, ...]
    external: bool = False
    #: A second moment at which the last signal is sent (a signal during clean-up).
    then: str | None = None

    @property
    def id(self) -> str:
        names = "+".join(s.name.removeprefix("SIG") for s in self.signals)
        return f"{self.moment}-{names}{'-external' if self.external else ''}"


CASES = [
    Case("run_started", (INT,)),
    Case("provider_spawned", (KILL,)),
    Case("provider_ready", (TERM,)),
    Case("faultproxy_spawned", (INT, INT)),
    Case("proxy_created", (HUP,)),
    Case("sut_spawned", (KILL,), external=True),
    Case("locust_spawned", (TERM, TERM)),
    Case("load_started", (TERM, INT)),
    Case("recovery", (HUP,)),
    # The second SIGINT lands while clean-up is stopping Locust: faults are still removed.
    Case("faults_active", (INT, INT), then="load_stopped"),
    Case("reporting", (TERM,)),
    Case("reporting", (INT, INT)),
]


@pytest.fixture(scope="module")
def external_toxiproxy() -> Iterator[ToxiproxyClient]:
    """A Toxiproxy-compatible server that outlives the runs, as a real external one does."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("BROWNOUT_READY "), line
        with ToxiproxyClient(line.split()[1]) as client:
            yield client
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_interrupted_run_leaves_nothing(
    case: Case, tmp_path: Path, external_toxiproxy: ToxiproxyClient
) -> None:
    scenario = write_scenario(tmp_path)
    reports = tmp_path / "reports"
    external = external_toxiproxy if case.external else None
    extra = ("--toxiproxy-url", external.url) if external is not None else ()
    process = start_run(scenario, reports, extra=extra)
    try:
        run_dir = wait_for_moment(reports, MOMENTS[case.moment], case.moment)
        if case.then is None:
            send(process, *case.signals)
        else:
            send(process, *case.signals[:-1])
            then = case.then
            wait_for_moment(reports, lambda d: then in event_types(d), then)
            send(process, case.signals[-1])
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in stderr, stderr
    if KILL in case.signals:
        assert process.returncode == -signal.SIGKILL
        # The watchdogs stop every child within seconds; an external Toxiproxy keeps its proxy.
        assert_nothing_left(run_dir)
        left_outside = leftovers(run_dir, external)
        if external is not None and MOMENTS["proxy_created"](run_dir):
            assert left_outside, "the external Toxiproxy should still hold the dead run's proxy"
        cleaned = subprocess.run(
            [sys.executable, "-m", "harness", "cleanup", str(run_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cleaned.returncode == 0, cleaned.stderr
        assert leftovers(run_dir, external) == []
        assert ledger_entries(run_dir)[-1]["op"] == "closed"
        return
    assert process.returncode == 130, stderr
    assert_nothing_left(run_dir, external)
    assert ledger_entries(run_dir)[-1]["op"] == "closed"
    info = _run_json(run_dir)
    if case.moment == "reporting":
        # The run itself completed; the report was finished (one signal) or abandoned (two).
        expected = "written" if len(case.signals) == 1 else "abandoned"
        assert str(info["report"]).startswith(expected), info
        assert (run_dir / "report.html").exists() == (expected == "written")
        return
    assert info["complete"] is False
    assert info["aborted"] is True
    assert info["signals"] == [s.name for s in case.signals], info
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    applied = {e["fault"] for e in events if e["type"] == "fault_applied"}
    removed = {e["fault"] for e in events if e["type"] == "fault_removed"}
    assert applied == removed


def test_background_run_ignores_sigint_and_stops_on_sigterm(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    reports = tmp_path / "reports"
    process = start_run(scenario, reports, ignore_sigint=True)
    try:
        run_dir = wait_for_moment(reports, MOMENTS["load_started"], "load_started")
        send(process, INT, TERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert_nothing_left(run_dir)
    assert _run_json(run_dir)["signals"] == ["SIGTERM"]


def test_stop_command_ends_a_live_run(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, duration="30s", window="20s")
    reports = tmp_path / "reports"
    process = start_run(scenario, reports)
    try:
        run_dir = wait_for_moment(reports, MOMENTS["locust_spawned"], "locust_spawned")
        stopped = subprocess.run(
            [sys.executable, "-m", "harness", "stop", "--reports-dir", str(reports)],
            capture_output=True,
            text=True,
            timeout=90,
        )
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert stopped.returncode == 0, stopped.stderr
    assert process.returncode == 130, stderr
    assert_nothing_left(run_dir)
    assert _run_json(run_dir)["signals"] == ["SIGTERM"]


def test_next_run_removes_a_killed_runs_proxy_from_an_external_toxiproxy(
    tmp_path: Path, external_toxiproxy: ToxiproxyClient
) -> None:
    scenario = write_scenario(tmp_path)
    reports = tmp_path / "reports"
    process = start_run(scenario, reports, extra=("--toxiproxy-url", external_toxiproxy.url))
    try:
        run_dir = wait_for_moment(reports, MOMENTS["faults_active"], "faults_active")
        process.kill()
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "llm" in external_toxiproxy.list_proxies()
    # The next run (here one that fails fast: its SUT does not exist) cleans up first.
    nothing = tmp_path / "nothing.yaml"
    nothing.write_text(
        "name: nothing\nduration: 1s\nsut: {url: 'http://127.0.0.1:9', ready_timeout: 1s}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(nothing), "--reports-dir", str(reports)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr
    assert f"left by {run_dir.name}: proxy 'llm'" in result.stderr
    assert leftovers(run_dir, external_toxiproxy) == []
