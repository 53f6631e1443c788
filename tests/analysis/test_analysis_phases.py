"""Phase boundaries, aborted runs and phases that are empty or never happened."""

from __future__ import annotations

import pytest

from harness.analysis import analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.scenario import SLO

SCENARIO = """\
name: synthetic
duration: 40s
warmup: 5s
sut: {url: "http://127.0.0.1:8000"}
"""


def test_requests_on_a_boundary_belong_to_the_later_phase(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.fault("f", 20.0, 30.0)
    w.event(40.0, "load_stopped", users=1)
    # one request per boundary and one just before each
    for at in (-0.5, 0.0, 4.999, 5.0, 19.999, 20.0, 29.999, 30.0, 39.999, 40.0, 41.0):
        w.request(at)
    # provider calls are phased by arrival, independently of their request
    for at in (4.999, 5.0, 20.0, 30.0):
        w.provider_call(at)
    w.close()

    summary = analyze_run(w.run_dir)
    phases = summary.phases

    assert phases["baseline"].start == w.t0 + 5.0
    assert phases["baseline"].end == w.t0 + 20.0
    assert phases["fault"].start == w.t0 + 20.0
    assert phases["fault"].end == w.t0 + 30.0
    assert phases["recovery"].end == w.t0 + 40.0
    assert phases["baseline"].duration_s == pytest.approx(15.0)
    # baseline: 5.0; fault: 19.999 (in flight when the fault began), 20.0, 29.999;
    # recovery: 30.0, 39.999
    assert [phases[p].requests for p in ("baseline", "fault", "recovery", "run")] == [1, 3, 2, 6]
    assert [phases[p].provider_attempts for p in ("baseline", "fault", "recovery")] == [1, 1, 1]
    assert summary.aborted is False


def test_warmup_falls_back_to_the_baseline_phase_event(run_writer: RunDirWriter) -> None:
    w = run_writer  # no scenario.yaml
    w.event(0.0, "load_started", users=1)
    w.event(3.0, "phase", name="baseline")
    w.event(10.0, "load_stopped", users=1)
    w.request(2.9)
    w.request(3.0)
    w.close()
    summary = analyze_run(w.run_dir)
    assert summary.phases["baseline"].start == w.t0 + 3.0
    assert summary.phases["baseline"].requests == 1


def test_aborted_run_ends_where_the_data_ends(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.run_info(complete=False, aborted=True, exit_status=3)
    w.event(0.0, "load_started", users=1)
    w.fault("f", 10.0, None)  # never removed: the run died during the fault
    w.request(6.0)
    w.request(12.0)
    w.request(14.5)  # the very last sample is included
    w.provider_call(14.6)
    w.close()
    with (w.run_dir / "requests.jsonl").open("a") as handle:
        handle.write('{"t_start": 1764160015.0, "t_end": 17')  # the crash's half line

    summary = analyze_run(w.run_dir)

    assert summary.aborted is True
    assert summary.complete is False
    fault = summary.phases["fault"]
    assert fault.start == w.t0 + 10.0
    assert fault.end == pytest.approx(w.t0 + 14.6)
    assert (fault.requests, fault.provider_attempts) == (2, 1)
    assert summary.phases["recovery"].start is None
    assert summary.skipped_lines == {"requests.jsonl": 1}
    assert summary.faults[0].removed_at is None
    assert any("aborted" in note for note in summary.notes)


def test_incomplete_run_without_run_json_or_events(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.request(1.0)
    w.request(2.0)
    w.close()
    summary = analyze_run(w.run_dir, [])
    assert summary.complete is False
    assert summary.phases["baseline"].requests == 2
    assert summary.phases["baseline"].start == w.t0 + 1.0


def test_empty_phase_gives_none_and_failing_slo_with_reason(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.fault("f", 20.0, 30.0)
    w.event(40.0, "load_stopped", users=1)
    w.request(6.0)
    w.request(35.0)
    w.close()

    slos = [
        SLO(name="fault errors", metric="error_rate", phase="fault", max=0.5),
        SLO(name="fault p95", metric="latency_p95_ms", phase="fault", max=1000),
        SLO(name="fault requests", metric="requests", phase="fault", max=10),
    ]
    summary = analyze_run(w.run_dir, slos)

    fault = summary.phases["fault"]
    assert fault.requests == 0
    assert fault.error_rate is None
    assert fault.goodput_rps == 0.0
    assert [s.passed for s in summary.slos] == [False, False, True]
    assert summary.slos[0].reason == (
        "error_rate in fault has no value: no user requests belong to the fault phase"
    )
    assert summary.slos[0].value is None
    assert summary.passed is False


def test_phases_that_never_happened(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.event(40.0, "load_stopped", users=1)
    w.request(6.0)
    w.close()

    summary = analyze_run(
        w.run_dir,
        [
            SLO(metric="recovery_time_s", phase="recovery", max=10),
            SLO(metric="error_rate", phase="fault", max=0.1),
        ],
    )

    assert summary.phases["baseline"].end == w.t0 + 40.0
    assert summary.phases["fault"].requests is None
    assert summary.phases["fault"].duration_s is None
    assert summary.slos[0].reason == (
        "recovery_time_s in recovery has no value: undetermined: the recovery phase did not "
        "happen: no fault was applied"
    )
    assert "no fault was applied" in summary.slos[1].reason
    assert summary.recovery.metastable is None


def test_several_faults_make_one_fault_phase(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.fault("a", 10.0, 15.0)
    w.fault("b", 12.0, 25.0)
    w.fault("a", 27.0, 28.0)  # the same fault applied twice
    w.event(40.0, "load_stopped", users=1)
    w.close()
    summary = analyze_run(w.run_dir, [])
    assert (summary.phases["fault"].start, summary.phases["fault"].end) == (
        w.t0 + 10.0,
        w.t0 + 28.0,
    )
    assert [(f.name, f.applied_at - w.t0) for f in summary.faults] == [
        ("a", 10.0),
        ("b", 12.0),
        ("a", 27.0),
    ]
    assert [f.removed_at for f in summary.faults] == [w.t0 + 15.0, w.t0 + 25.0, w.t0 + 28.0]


def test_fault_during_warmup_starts_the_fault_phase_after_warmup(
    run_writer: RunDirWriter,
) -> None:
    w = run_writer
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.fault("early", 2.0, 20.0)
    w.event(40.0, "load_stopped", users=1)
    w.request(5.0)
    w.close()
    phases = analyze_run(w.run_dir, []).phases
    assert phases["baseline"].duration_s == 0.0
    assert phases["baseline"].requests == 0
    assert phases["fault"].start == w.t0 + 5.0
    assert phases["fault"].requests == 1
    assert "0 s" in phases["baseline"].unavailable["throughput_rps"]
