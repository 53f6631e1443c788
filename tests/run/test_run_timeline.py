"""The fault timeline: order of actions, events with planned and actual times, clean-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness.errors import FaultInjectionError
from harness.run.events import EventLog
from harness.run.timeline import FaultTimeline, planned_phases
from harness.scenario import Fault, parse_scenario
from tests.conftest import wait_until

SCENARIO = """
name: timeline
duration: 0.6s
warmup: 0.1s
sut: {url: "http://127.0.0.1:9"}
providers: {p: {}}
proxies: {x: {upstream: p}}
faults:
  - {name: first, target: provider/p, type: error, at: 0.1s, for: 0.2s}
  - {name: second, target: proxy/x, type: latency, attributes: {latency: 5}, at: 0.3s, for: 0.1s}
"""


class Recorder:
    def __init__(self, fail_remove: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_remove = fail_remove

    def apply(self, fault: Fault) -> None:
        self.calls.append(("apply", fault.name))

    def remove(self, fault: Fault) -> None:
        self.calls.append(("remove", fault.name))
        if self.fail_remove:
            raise FaultInjectionError("proxy went away")


def read_events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_planned_phases() -> None:
    scenario = parse_scenario(SCENARIO)
    assert planned_phases(scenario) == [
        (0.0, "warmup"),
        (0.1, "baseline"),
        (0.1, "fault"),
        (pytest.approx(0.4), "recovery"),
    ]


def test_timeline_applies_then_removes_back_to_back_windows_without_overlap(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(SCENARIO)
    provider, proxy = Recorder(), Recorder()
    events = EventLog(tmp_path / "events.jsonl")
    timeline = FaultTimeline(scenario, {"provider": provider, "proxy": proxy}, events)
    t0 = time.time()
    timeline.start(t0)
    wait_until(lambda: len(proxy.calls) == 2, 10, what="both proxy actions")
    timeline.remove_all()
    events.close()
    assert provider.calls == [("apply", "first"), ("remove", "first")]
    assert proxy.calls == [("apply", "second"), ("remove", "second")]
    rows = read_events(tmp_path / "events.jsonl")
    kinds = [(r["type"], r.get("fault") or r.get("name")) for r in rows]
    # "first" ends exactly when "second" starts: the removal is recorded before the application.
    assert kinds == [
        ("phase", "warmup"),
        ("phase", "baseline"),
        ("phase", "fault"),
        ("fault_applied", "first"),
        ("fault_removed", "first"),
        ("fault_applied", "second"),
        ("fault_removed", "second"),
        ("phase", "recovery"),
    ]
    applied = next(r for r in rows if r["type"] == "fault_applied")
    assert applied["planned_t"] == pytest.approx(t0 + 0.1)
    assert isinstance(applied["t"], float) and applied["t"] >= applied["planned_t"]


def test_remove_all_removes_active_faults_and_reports_failures(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO)
    provider, proxy = Recorder(fail_remove=True), Recorder()
    events = EventLog(tmp_path / "events.jsonl")
    timeline = FaultTimeline(scenario, {"provider": provider, "proxy": proxy}, events)
    timeline.start(time.time())
    wait_until(lambda: provider.calls, 10, what="the first fault")
    with pytest.raises(FaultInjectionError, match="first"):
        timeline.remove_all()
    events.close()
    assert provider.calls == [("apply", "first"), ("remove", "first")]
    assert not timeline.active
    types = [r["type"] for r in read_events(tmp_path / "events.jsonl")]
    assert "warning" in types
