"""Exact metric values on synthetic runs whose numbers are chosen by hand."""

from __future__ import annotations

import json

import pytest

from harness.analysis import METRICS, PhaseMetrics, Summary, analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.scenario import SLO, SLO_METRICS

SCENARIO = """\
name: synthetic
duration: 40s
warmup: 5s
sut: {url: "http://127.0.0.1:8000"}
"""


def standard_timeline(w: RunDirWriter, *, scenario: str = SCENARIO) -> None:
    """warm-up 0-5 s, baseline 5-20 s, fault 20-30 s, recovery 30-40 s."""
    w.scenario_yaml(scenario)
    w.run_info()
    w.event(0.0, "load_started", users=4)
    w.fault("provider-errors", 20.0, 30.0)
    w.event(40.0, "load_stopped", users=4)
    w.event(40.5, "run_ended", status="ok")


def test_metric_names_match_the_scenario_language() -> None:
    assert METRICS == SLO_METRICS
    for name in SLO_METRICS:
        assert PhaseMetrics().metric(name) is None


def test_amplification_is_fan_out_relative_to_baseline(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    for i in range(10):  # baseline: 10 requests, 1 call each
        rid = w.request(6.0 + i)
        w.provider_call(6.0 + i + 0.01, request_id=rid)
    for i in range(10):  # fault: 10 requests, 25 calls
        rid = w.request(20.0 + i * 0.5)
        for k in range(3 if i < 5 else 2):
            w.provider_call(20.0 + i * 0.5 + 0.01 * (k + 1), request_id=rid)
    w.close()

    summary = analyze_run(w.run_dir)

    base, fault = summary.phases["baseline"], summary.phases["fault"]
    assert (base.requests, base.provider_attempts, base.fan_out) == (10, 10, 1.0)
    assert base.retry_amplification == 1.0
    assert (fault.requests, fault.provider_attempts, fault.fan_out) == (10, 25, 2.5)
    assert fault.retry_amplification == pytest.approx(2.5)
    assert fault.attempts_per_request.model_dump() == {
        "mean": 2.5,
        "p50": 2.5,
        "p99": 3.0,
        "max": 3.0,
    }
    run = summary.phases["run"]
    assert (run.requests, run.provider_attempts) == (20, 35)
    assert run.retry_amplification == pytest.approx(1.75)
    recovery = summary.phases["recovery"]
    assert recovery.requests == 0
    assert recovery.retry_amplification is None
    assert "no user requests" in recovery.unavailable["retry_amplification"]


def test_error_rate_classes_and_latency_percentiles(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    # Baseline: 100 requests with latencies 1..100 ms; 4 fail.
    for i in range(100):
        latency = float(i + 1)
        if i in (0, 1):
            w.request(5.0 + i * 0.1, latency, ok=False, status=503)
        elif i == 2:
            w.request(5.0 + i * 0.1, latency, ok=False, status=0, error_class="timeout")
        elif i == 3:
            w.request(5.0 + i * 0.1, latency, ok=False, status=200, error_class="validation")
        else:
            w.request(5.0 + i * 0.1, latency)
    w.close()

    base = analyze_run(w.run_dir).phases["baseline"]

    assert base.requests == 100
    assert base.failed_requests == 4
    assert base.error_rate == pytest.approx(0.04)
    assert base.error_classes == {"http_503": 2, "timeout": 1, "validation": 1}
    # numpy linear interpolation over 1..100
    assert base.latency_p50_ms == pytest.approx(50.5)
    assert base.latency_p95_ms == pytest.approx(95.05)
    assert base.latency_p99_ms == pytest.approx(99.01)
    # successes are 5..100
    assert base.latency_ok_ms.p50 == pytest.approx(52.5)
    assert base.throughput_rps == pytest.approx(100 / 15)


def test_goodput_uses_the_latency_slo_as_per_request_threshold(
    run_writer: RunDirWriter,
) -> None:
    w = run_writer
    standard_timeline(
        w,
        scenario=SCENARIO
        + "slos:\n  - {metric: latency_p99_ms, phase: run, max: 300}\n"
        + "  - {metric: latency_p95_ms, phase: baseline, max: 200}\n",
    )
    # Baseline, 15 s long: 6 fast ok, 2 slow ok (250 ms > 200 threshold), 1 invalid, 1 failed.
    for i in range(6):
        w.request(6.0 + i, 100.0, valid=True)
    w.request(12.0, 250.0)
    w.request(12.5, 250.0)
    w.request(13.0, 100.0, valid=False)
    w.request(13.5, 100.0, ok=False)
    w.close()

    summary = analyze_run(w.run_dir)
    base = summary.phases["baseline"]

    assert summary.latency_threshold_ms == 200.0
    assert base.good_requests == 6
    assert base.good_request_fraction == pytest.approx(0.6)
    assert base.goodput_rps == pytest.approx(6 / 15)


def test_goodput_without_latency_slo_counts_ok_and_valid(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    w.request(6.0, 5000.0)
    w.request(7.0, 100.0, valid=False)
    w.request(8.0, 100.0, valid=None)
    w.close()
    base = analyze_run(w.run_dir).phases["baseline"]
    assert base.good_requests == 2
    assert base.error_rate == 0.0  # ok=true rows are not errors even when valid is false


def test_wasted_tokens(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    ok_id = w.request(21.0)
    w.provider_call(21.01, request_id=ok_id, status=500, tokens_in=10, tokens_out=0)  # wasted
    w.provider_call(21.02, request_id=ok_id, tokens_in=10, tokens_out=5)  # served
    failed_id = w.request(22.0, ok=False, status=503)
    w.provider_call(22.01, request_id=failed_id, tokens_in=7, tokens_out=3)  # wasted: 10
    w.provider_call(23.0, request_id=None, tokens_in=100, tokens_out=100)  # unknown, ok call
    w.provider_call(23.5, request_id=None, status=429, tokens_in=1, tokens_out=0)  # wasted
    w.provider_call(
        24.0, request_id=ok_id, tokens_in=2, tokens_out=2, stream_completed=False
    )  # cut stream: wasted
    w.close()

    fault = analyze_run(w.run_dir).phases["fault"]

    assert fault.tokens_total == 10 + 15 + 10 + 200 + 1 + 4
    assert fault.wasted_tokens == 10 + 10 + 1 + 4


def test_wasted_tokens_when_request_ids_do_not_join(run_writer: RunDirWriter) -> None:
    """A SUT that does not propagate X-Request-Id: only failed calls count as waste."""
    w = run_writer
    standard_timeline(w)
    w.request(21.0, ok=False)
    w.provider_call(21.01, request_id="something-else", tokens_in=10, tokens_out=5)
    w.provider_call(21.02, request_id=None, status=500, tokens_in=3, tokens_out=0)
    w.close()
    fault = analyze_run(w.run_dir).phases["fault"]
    assert fault.wasted_tokens == 3
    assert fault.attempts_per_request.max is None


def test_queue_depth_and_provider_in_flight(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    w.request(6.0)
    for t, depth in [(6.0, 1.0), (19.99, 4.0), (20.0, 9.0), (29.0, 12.0), (35.0, 2.0)]:
        w.sut_metric(t, depth)
    w.sut_metric(25.0, 99.0, name="sut_other_gauge")
    w.provider_call(10.0, in_flight=3)
    w.provider_call(25.0, in_flight=17)
    w.close()

    phases = analyze_run(w.run_dir).phases

    assert phases["baseline"].max_queue_depth == 4.0
    assert phases["fault"].max_queue_depth == 12.0
    assert phases["recovery"].max_queue_depth == 2.0
    assert phases["run"].max_queue_depth == 12.0
    assert phases["baseline"].max_provider_in_flight == 3.0
    assert phases["fault"].max_provider_in_flight == 17.0
    assert phases["recovery"].max_provider_in_flight is None
    assert "no provider call" in phases["recovery"].unavailable["max_provider_in_flight"]


def test_summary_json_shape_and_round_trip(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    w.request(6.0)
    w.close()

    summary = analyze_run(w.run_dir)

    data = json.loads((w.run_dir / "summary.json").read_text())
    assert {"run_id", "scenario", "valid", "complete", "passed", "phases", "faults", "slos"} <= (
        data.keys()
    )
    assert data["run_id"] == "20251126T120000Z-synthetic"
    assert list(data["phases"]) == ["baseline", "fault", "recovery", "run"]
    for phase in data["phases"].values():
        assert {"start", "end", "duration_s", *SLO_METRICS} <= phase.keys()
        assert {"error_classes", "latency_ok_ms", "attempts_per_request"} <= phase.keys()
        assert set(phase["attempts_per_request"]) == {"mean", "p50", "p99", "max"}
    assert data["faults"] == [
        {
            "name": "provider-errors",
            "kind": "error",
            "target": "provider/openai",
            "applied_at": w.t0 + 20.0,
            "removed_at": w.t0 + 30.0,
            "planned_applied_at": w.t0 + 20.0,
            "planned_removed_at": w.t0 + 30.0,
            "params": {},
            "requests_during": 0,
            "failed_during": 0,
            "goodput_during_rps": 0.0,
            "latency_p95_during_ms": None,
            "calls_hit": 0,
            "failed_requests_hit": 0,
            "error_classes_during": {},
        }
    ]
    assert {"recovery_time_s", "metastable"} <= data["recovery"].keys()
    assert Summary.from_json((w.run_dir / "summary.json").read_bytes()) == summary


def test_slos_default_to_the_run_scenario(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(
        w,
        scenario=SCENARIO
        + "slos:\n"
        + "  - {name: few errors, metric: error_rate, phase: baseline, max: 0.1}\n"
        + "  - {metric: requests, phase: baseline, min: 5}\n",
    )
    w.request(6.0)
    w.request(7.0, ok=False)
    w.close()

    summary = analyze_run(w.run_dir)

    assert [(s.name, s.value, s.passed) for s in summary.slos] == [
        ("few errors", 0.5, False),
        ("requests in baseline >= 5", 2.0, False),
    ]
    assert summary.slos[0].reason == "error_rate in baseline = 0.5, above the maximum 0.1"
    assert summary.slos[1].reason == "requests in baseline = 2, below the minimum 5"
    assert summary.passed is False

    explicit = analyze_run(w.run_dir, [SLO(metric="requests", phase="baseline", max=2)])
    assert explicit.passed is True
    assert explicit.slos[0].reason == "requests in baseline = 2, within <= 2"


def test_run_without_scenario_yaml_has_no_slos(run_writer: RunDirWriter) -> None:
    w = run_writer
    w.event(0.0, "load_started", users=1)
    w.request(1.0)
    w.event(2.0, "load_stopped", users=1)
    w.close()
    summary = analyze_run(w.run_dir)
    assert summary.slos == []
    assert summary.passed is True
    assert summary.phases["baseline"].requests == 1
    assert any("no scenario.yaml" in note for note in summary.notes)


def test_invalidating_warning_and_empty_run_make_it_invalid(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    w.event(10.0, "warning", message="load generator saturated (CPU 98%)", invalidates=True)
    w.event(11.0, "warning", message="just a note")
    w.close()
    summary = analyze_run(w.run_dir)
    assert summary.valid is False
    assert summary.validity_problems == [
        "load generator saturated (CPU 98%)",
        "no user requests were recorded after warm-up",
    ]


def test_window_must_be_positive(run_writer: RunDirWriter) -> None:
    with pytest.raises(ValueError, match="window_s"):
        analyze_run(run_writer.run_dir, [], window_s=0)


def health_lines(w: RunDirWriter, samples: list[tuple[float, float, float]]) -> str:
    return "".join(
        json.dumps({"t": w.t0 + t, "cpu_percent": c, "users": 4, "requests": 1, "lag_ms": lag})
        + "\n"
        for t, c, lag in samples
    )


def test_saturated_load_generator_makes_the_run_invalid(run_writer: RunDirWriter) -> None:
    w = run_writer
    standard_timeline(w)
    w.request(6.0)
    w.close()
    lines = [
        # busy during warm-up only: allowed
        (1.0, 99.0, 0.0),
        (2.0, 99.0, 0.0),
        (10.0, 40.0, 5.0),
        (11.0, 95.0, 20.0),
        (12.0, 50.0, 250.0),
    ]
    (w.run_dir / "load_health.jsonl").write_text(
        "".join(
            json.dumps(
                {"t": w.t0 + t, "cpu_percent": cpu, "users": 4, "requests": 1, "lag_ms": lag}
            )
            + "\n"
            for t, cpu, lag in lines
        )
    )
    summary = analyze_run(w.run_dir)
    assert summary.valid is False
    assert summary.validity_problems == [
        "load generator saturated in 2 sample(s): CPU up to 95% (limit 90%), "
        "scheduling lag up to 250 ms (limit 100 ms)"
    ]

    (w.run_dir / "load_health.jsonl").write_text(
        "".join(
            json.dumps(
                {"t": w.t0 + t, "cpu_percent": cpu, "users": 4, "requests": 1, "lag_ms": lag}
            )
            + "\n"
            for t, cpu, lag in lines[:3]
        )
        + '{"t": 1}\n'
    )
    summary = analyze_run(w.run_dir)
    assert summary.valid is True
    assert any("load_health.jsonl is unreadable" in note for note in summary.notes)
