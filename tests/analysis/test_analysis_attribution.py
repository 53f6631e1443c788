"""Fault attribution, retry layers, token cost, TTFT, rate deficit and drain time."""

from __future__ import annotations

import pytest

from harness.analysis import analyze_run
from harness.analysis.synthetic import RunDirWriter


def timeline(w: RunDirWriter) -> None:
    w.event(0.0, "load_started", users=1)
    w.fault("errors", 10.0, 20.0)
    w.fault("latency", 15.0, 25.0, kind="latency", target="proxy/openai")
    w.event(30.0, "load_stopped", users=1)


def test_faults_are_linked_to_the_failures_they_caused(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    hit = w.request(11.0, ok=False, status=502)
    w.provider_call(11.01, request_id=hit, status=500, fault="errors")
    w.provider_call(11.02, request_id=hit, status=500, fault="errors,other")
    unlucky = w.request(12.0, ok=False, status=0, error_class="timeout")  # no marked call
    w.provider_call(12.01, request_id=unlucky)
    served = w.request(13.0)  # retried past the fault
    w.provider_call(13.01, request_id=served, status=500, fault="errors")
    w.provider_call(13.02, request_id=served)
    w.request(16.0, ok=False, status=0, error_class="timeout")  # both faults active
    w.request(22.0)  # only the network fault
    w.close()

    errors, latency = analyze_run(w.run_dir, []).faults

    assert (errors.requests_during, errors.failed_during) == (4, 3)
    assert errors.calls_hit == 3
    assert errors.failed_requests_hit == 1
    assert errors.error_classes_during == {"http_502": 1, "timeout": 2}
    assert (latency.requests_during, latency.failed_during) == (2, 1)
    assert (latency.calls_hit, latency.failed_requests_hit) == (0, 0)
    assert latency.kind == "latency" and latency.target == "proxy/openai"


def test_retry_layers_token_cost_ttft_and_rate_deficit(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    a = w.request(1.0, 100.0, ttft_ms=20.0)
    w.provider_call(1.01, request_id=a, fingerprint="f1", tokens_in=10, tokens_out=10)
    b = w.request(2.0, 100.0, ttft_ms=40.0)
    # the SDK retried twice (same body), then the app retried with a new body
    w.provider_call(2.01, request_id=b, fingerprint="f1", status=500, tokens_out=0)
    w.provider_call(2.02, request_id=b, fingerprint="f1", status=500, retry_count=1, tokens_out=0)
    w.provider_call(2.03, request_id=b, fingerprint="f1", retry_count=2, tokens_in=10)
    w.provider_call(2.04, request_id=b, fingerprint="f2", tokens_in=10, tokens_out=10)
    w.request(9.95, 200.0)  # starts in baseline, completes in the fault phase
    w.close()

    base = analyze_run(w.run_dir, []).phases["baseline"]

    assert base.sdk_retry_calls == 2
    assert base.repeated_calls == 2  # the two calls that repeat (b, f1)
    assert base.tokens_total == 20 + 10 + 10 + 15 + 20
    # the 9.95 s request was in flight when the fault began: a fault-phase request
    assert base.tokens_per_success == pytest.approx(75 / 2)
    assert base.ttft_ms.p50 == pytest.approx(30.0)
    assert base.rate_deficit == pytest.approx(1 - 2 / 3)


def test_drain_time_after_load_stops(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    w.request(1.0)
    for at, depth in [(29.0, 8.0), (30.5, 5.0), (31.5, 2.0), (32.25, 0.0), (33.0, 0.0)]:
        w.sut_metric(at, depth)
    w.close()
    assert analyze_run(w.run_dir, []).drain_time_s == pytest.approx(2.25)


def test_queue_that_never_drains_has_no_drain_time(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    w.request(1.0)
    w.sut_metric(31.0, 4.0)
    w.close()
    summary = analyze_run(w.run_dir, [])
    assert summary.drain_time_s is None
    assert "had not drained at the last sample (4)" in " ".join(summary.notes)
