"""Per-window series for the charts, and the package's public surface."""

from __future__ import annotations

import pytest

import harness.analysis
import harness.report
from harness.analysis import analyze_run
from harness.analysis.synthetic import RunDirWriter


def test_windows_count_rates_and_percentiles(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.fault("f", 2.0, 3.0)
    w.event(4.0, "load_stopped", users=1)
    for i in range(4):  # window 0: 4 requests, latencies 10..40
        w.request(0.1 + i * 0.2, 10.0 * (i + 1))
    w.request(1.5, 100.0, ok=False)  # window 1
    for k in range(6):  # window 2: 6 provider calls
        w.provider_call(2.0 + k * 0.1, in_flight=k + 1)
    w.sut_metric(3.2, 7.0)
    w.sut_metric(3.7, 5.0)
    w.close()

    series = analyze_run(w.run_dir, [], window_s=1.0).timeseries

    assert series.t0 == w.t0
    assert series.t == [0.0, 1.0, 2.0, 3.0]
    assert series.requests_rps == [4.0, 1.0, 0.0, 0.0]
    assert series.errors_rps == [0.0, 1.0, 0.0, 0.0]
    assert series.goodput_rps == [4.0, 0.0, 0.0, 0.0]
    assert series.latency_p50_ms == [25.0, 100.0, None, None]
    assert series.latency_p95_ms[0] == pytest.approx(38.5)
    assert series.provider_attempts_rps == [0.0, 0.0, 6.0, 0.0]
    assert series.provider_in_flight == [None, None, 6.0, None]
    assert series.queue_depth == [None, None, None, 7.0]


def test_half_second_windows(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.event(2.0, "load_stopped", users=1)
    w.request(0.6)
    w.close()
    series = analyze_run(w.run_dir, [], window_s=0.5).timeseries
    assert series.t == [0.0, 0.5, 1.0, 1.5]
    assert series.requests_rps == [0.0, 2.0, 0.0, 0.0]


def test_a_wide_last_part_is_merged_into_the_window_before(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.event(2.5, "load_stopped", users=1)
    w.request(0.5)
    w.request(2.2)
    w.close()
    series = analyze_run(w.run_dir, []).timeseries
    assert series.t == [0.0, 1.0]
    assert series.requests_rps == [1.0, pytest.approx(1 / 1.5)]


def test_a_sliver_of_a_last_window_is_dropped_not_divided(run_writer: RunDirWriter) -> None:
    """One call 17 ms after the last whole window once read as ~60 calls/s."""
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.event(3.017, "load_stopped", users=1)
    for at in (0.5, 1.5, 2.5, 3.01):
        w.provider_call(at, request_id=w.request(at))
    w.close()
    series = analyze_run(w.run_dir, []).timeseries
    assert series.t == [0.0, 1.0, 2.0]
    assert series.provider_attempts_rps == [1.0, 1.0, 1.0]
    assert series.fan_out == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("module", [harness.analysis, harness.report])
def test_public_names_are_exported_and_sorted(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))
    for name in names:
        assert hasattr(module, name), name


def test_provider_queue_per_window(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.event(4.0, "load_stopped", users=1)
    for i in range(8):
        w.request(0.1 + i * 0.5, 10.0)
    w.provider_metric(0.5, 0.0)
    w.provider_metric(2.2, 3.0)
    w.provider_metric(2.7, 5.0)
    w.provider_metric(2.8, 9.0, name="brownout_mock_serving")  # another gauge: not the queue
    w.provider_metric(3.5, 1.0, provider="other")
    w.close()

    series = analyze_run(w.run_dir, [], window_s=1.0).timeseries

    assert series.provider_queue_depth == [0.0, None, 5.0, 1.0]
