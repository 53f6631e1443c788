"""The supervisor with real child processes: ready line, logs, failure with output, stop."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import ComponentStartError
from harness.run.events import EventLog
from harness.run.supervisor import Supervisor, wait_http_ok

READY_CHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: (print("bye", flush=True), sys.exit(0)))
print("starting up", flush=True)
print("BROWNOUT_READY http://127.0.0.1:12345", flush=True)
while True:
    time.sleep(0.05)
"""

DYING_CHILD = """
import sys
print("config error: no such model", flush=True)
sys.exit(4)
"""


@pytest.fixture
def events(tmp_path: Path) -> Iterator[EventLog]:
    log = EventLog(tmp_path / "events.jsonl")
    yield log
    log.close()


def test_start_ready_stop(tmp_path: Path, events: EventLog) -> None:
    supervisor = Supervisor(tmp_path / "logs", events)
    child = supervisor.start("worker", [sys.executable, "-c", READY_CHILD])
    assert supervisor.wait_ready(child, 20) == "http://127.0.0.1:12345"
    assert supervisor.check_alive() is None
    assert supervisor.stop(child) == 0
    log = (tmp_path / "logs" / "worker.log").read_text()
    assert "starting up" in log
    types = [
        json.loads(line)["type"] for line in (tmp_path / "events.jsonl").read_text().splitlines()
    ]
    assert types == ["process_started", "component_ready", "process_exited"]


def test_child_that_dies_is_reported_with_its_output(tmp_path: Path, events: EventLog) -> None:
    supervisor = Supervisor(tmp_path / "logs", events)
    child = supervisor.start("sut", [sys.executable, "-c", DYING_CHILD])
    with pytest.raises(ComponentStartError, match="exited with code 4") as caught:
        supervisor.wait_ready(child, 20)
    assert "no such model" in str(caught.value)
    supervisor.stop_all()


def test_child_ignoring_sigterm_is_killed(tmp_path: Path, events: EventLog) -> None:
    stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    stubborn += "print('BROWNOUT_READY http://127.0.0.1:9', flush=True)\n"
    stubborn += "while True: time.sleep(1)\n"
    supervisor = Supervisor(tmp_path / "logs", events)
    child = supervisor.start("stubborn", [sys.executable, "-c", stubborn])
    supervisor.wait_ready(child, 20)
    code = supervisor.stop(child, timeout_s=0.5)
    assert code is not None and code < 0  # killed by a signal
    assert not child.alive()


def test_missing_program_is_a_clear_error(tmp_path: Path, events: EventLog) -> None:
    supervisor = Supervisor(tmp_path / "logs", events)
    with pytest.raises(ComponentStartError, match="could not start"):
        supervisor.start("ghost", ["/nonexistent/program"])


def test_health_check_gives_up_with_last_state() -> None:
    with pytest.raises(ComponentStartError, match="did not pass"):
        wait_http_ok("http://127.0.0.1:9/healthz", 0.3)
