"""Recovery time and the metastable verdict."""

from __future__ import annotations

from harness.analysis import analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.scenario import SLO

SCENARIO = """\
name: synthetic
duration: 40s
warmup: 0s
sut: {url: "http://127.0.0.1:8000"}
"""


def steady(
    w: RunDirWriter, start: float, end: float, latency_ms: float, *, ok: bool = True
) -> None:
    """10 requests per second, evenly spaced, on [start, end)."""
    n = round((end - start) * 10)
    for i in range(n):
        w.request(start + i * 0.1 + 0.05, latency_ms, ok=ok)


def timeline(w: RunDirWriter) -> None:
    w.scenario_yaml(SCENARIO)
    w.event(0.0, "load_started", users=1)
    w.fault("f", 10.0, 20.0)
    w.event(40.0, "load_stopped", users=1)


def test_recovery_time_counts_whole_windows_after_the_last_fault(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    steady(w, 0.0, 10.0, 100.0)
    steady(w, 10.0, 20.0, 100.0, ok=False)
    steady(w, 20.0, 25.0, 1000.0)  # slow for 5 s after the fault is gone
    steady(w, 25.0, 26.0, 100.0)  # one good window, then a relapse
    steady(w, 26.0, 27.0, 1000.0)
    steady(w, 27.0, 40.0, 100.0)
    w.close()

    summary = analyze_run(w.run_dir, [SLO(metric="recovery_time_s", phase="recovery", max=5)])

    # The one-window relapse at 26 s is jitter to the rolling median of 3 windows.
    assert summary.recovery.recovery_time_s == 5.0
    assert summary.recovery.verdict == "recovered"
    assert summary.recovery.metastable is False
    assert summary.phases["recovery"].recovery_time_s == 5.0
    assert summary.phases["run"].recovery_time_s == 5.0
    assert summary.phases["fault"].recovery_time_s is None
    assert summary.slos[0].passed is True
    assert summary.notes[0].startswith(
        "recovery windows hold only ~10 requests each at the baseline rate, so recovery time "
        "is noisy; window_s=3"
    )


def test_immediate_recovery_is_zero(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    steady(w, 0.0, 40.0, 100.0)
    w.close()
    assert analyze_run(w.run_dir, []).recovery.recovery_time_s == 0.0


def test_metastable_when_goodput_never_returns(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    steady(w, 0.0, 10.0, 100.0)
    steady(w, 10.0, 40.0, 100.0, ok=False)  # the failure outlives its trigger
    w.close()

    summary = analyze_run(w.run_dir, [SLO(metric="recovery_time_s", phase="recovery", max=60)])

    assert summary.recovery.metastable is True
    assert summary.recovery.recovery_time_s is None
    assert "never recovered" in summary.recovery.reason
    assert summary.slos[0].passed is False
    assert "never recovered" in summary.slos[0].reason


def test_recovery_needs_k_windows_before_load_stops(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    steady(w, 0.0, 10.0, 100.0)
    steady(w, 10.0, 38.0, 2000.0)
    steady(w, 38.0, 40.0, 100.0)  # only 2 good windows before the end
    w.close()
    assert analyze_run(w.run_dir, []).recovery.metastable is True
    assert analyze_run(w.run_dir, [], recovery_windows=2).recovery.recovery_time_s == 18.0


def test_recovery_tolerates_the_baselines_own_jitter(run_writer: RunDirWriter) -> None:
    """A service whose millisecond latency jitters from window to window is recovered as soon
    as it is back inside the range its own baseline showed, not held to (1+ε)·baseline p95."""
    w = run_writer
    timeline(w)
    for second in range(40):
        in_fault = 10 <= second < 20
        # Outside the fault, windows alternate between 5 ms and 9 ms: the same service, jitter.
        latency = 500.0 if in_fault else (5.0 if second % 2 else 9.0)
        steady(w, float(second), second + 1.0, latency, ok=not in_fault)
    w.close()

    summary = analyze_run(w.run_dir, [])

    assert summary.recovery.metastable is False
    assert summary.recovery.recovery_time_s == 0.0
    assert summary.recovery.p95_ceiling_ms is not None
    assert summary.recovery.p95_ceiling_ms >= 9.0
    # and a p95 a few milliseconds over the baseline's is within the default 10 ms slack
    assert summary.recovery.baseline_p95_ms is not None
    assert summary.recovery.p95_ceiling_ms >= summary.recovery.baseline_p95_ms + 10.0
