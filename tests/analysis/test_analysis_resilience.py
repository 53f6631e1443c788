"""Client-resilience verdicts and cost on hand-built journals with known answers.

Each test writes the calls a client of known behaviour would make (gaps, retry-after, retry
counts, cut streams) and checks the verdict, its metric and its evidence; the ground truth with
real clients is test_analysis_resilience_groundtruth.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyze_run
from harness.analysis.cost import DEFAULT_PRICES, price_for
from harness.analysis.models import Summary
from harness.analysis.synthetic import RunDirWriter
from harness.analysis.verdict_models import ModelPrice, Verdict
from harness.scenario import SLO


def write_calls(w: RunDirWriter, calls: list[dict[str, Any]]) -> None:
    """Append journal lines with the fields RunDirWriter.provider_call does not take."""
    with (w.run_dir / "provider_calls.jsonl").open("a", encoding="utf-8") as handle:
        for call in calls:
            at = call.pop("at")
            latency = call.pop("latency_ms", 50.0)
            row = {
                "t": w.t0 + at,
                "t_end": w.t0 + at + latency / 1000.0,
                "provider": "openai",
                "name": "openai",
                "endpoint": "/v1/chat/completions",
                "method": "POST",
                "model": "gpt-4o-mini",
                "traceparent": None,
                "retry_count": None,
                "fingerprint": "f" * 16,
                "status": 200,
                "fault": None,
                "tokens_in": 100,
                "tokens_out": 50,
                "latency_ms": latency,
                "stream": False,
                "stream_completed": None,
                "in_flight": 1,
                **call,
            }
            handle.write(json.dumps(row) + "\n")


def timeline(w: RunDirWriter) -> None:
    w.event(0.0, "load_started", users=1)
    w.fault("limited", 10.0, 40.0, kind="rate_limit")
    w.event(50.0, "load_stopped", users=1)


def chain(
    w: RunDirWriter,
    calls: list[dict[str, Any]],
    at: float,
    gaps: list[float],
    *,
    retry_after: float | None = None,
    status: int = 429,
    header: bool = False,
    ok: bool = True,
) -> str:
    """One request whose call failed len(gaps) times, retried after each gap, then succeeded."""
    t = at
    attempts = []
    for n, gap in enumerate(gaps):
        row: dict[str, Any] = {"at": t, "status": status, "tokens_out": 0}
        if retry_after is not None:
            row["retry_after_s"] = retry_after
        if header:
            row["retry_count"] = n
        attempts.append(row)
        t += 0.05 + gap
    attempts.append({"at": t, "retry_count": len(gaps) if header else None})
    rid = w.request(at, latency_ms=(t - at) * 1000 + 60, ok=ok)
    for row in attempts:
        row["request_id"] = rid
    calls.extend(attempts)
    return rid


def verdict(summary: Summary, name: str, phase: str = "fault") -> Verdict:
    return next(v for v in summary.resilience[phase] if v.name == name)


def analyse(w: RunDirWriter, calls: list[dict[str, Any]], slos: list[SLO] | None = None) -> Summary:
    w.close()
    write_calls(w, calls)
    return analyze_run(w.run_dir, slos or [])


def baseline_traffic(w: RunDirWriter, calls: list[dict[str, Any]]) -> None:
    for i in range(5):
        rid = w.request(2.0 + i)
        calls.append({"at": 2.01 + i, "request_id": rid})


def test_retry_after_honoured_and_violated(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    baseline_traffic(w, calls)
    honoured = [chain(w, calls, 11.0 + i, [1.02], retry_after=1.0) for i in range(6)]
    early = [chain(w, calls, 20.0 + i, [0.004], retry_after=1.0) for i in range(3)]
    summary = analyse(w, calls, [SLO(metric="retry_after_violation_rate", phase="fault", max=0)])

    found = verdict(summary, "retry_after")
    assert found.status == "fail"
    assert found.evidence["retries_after_retry_after"] == 9
    assert found.evidence["violations"] == 3
    assert summary.phases["fault"].retry_after_violation_rate == pytest.approx(3 / 9)
    assert set(found.examples) <= set(early) and found.examples
    assert not set(found.examples) & set(honoured)
    (slo,) = summary.slos
    assert not slo.passed and slo.value == pytest.approx(3 / 9)
    # No retry-after reply in the baseline: the verdict is not judged and the metric is null.
    assert verdict(summary, "retry_after", "baseline").status == "not_judged"
    assert "retry_after_violation_rate" in summary.phases["baseline"].unavailable


def test_backoff_grows_and_immediate_retries_do_not(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    for i in range(6):
        chain(w, calls, 11.0 + i, [0.5, 1.0, 2.0], status=500)
    summary = analyse(w, calls)
    found = verdict(summary, "backoff")
    assert found.status == "pass"
    assert found.value == pytest.approx(2.0, rel=0.01)
    assert found.evidence["median_gap_s_by_retry"] == {"1": 0.5, "2": 1.0, "3": 2.0}


def test_immediate_retries_fail_backoff_and_are_one_wave(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    for i in range(6):
        chain(w, calls, 11.0 + i, [0.003, 0.004, 0.003], status=500)
    summary = analyse(w, calls)
    assert verdict(summary, "backoff").status == "fail"
    jitter = verdict(summary, "jitter")
    assert jitter.status == "fail" and "immediate" in jitter.summary
    attempts = verdict(summary, "attempts")
    assert attempts.status == "fail" and attempts.value == 4.0
    assert attempts.evidence["attempts_distribution"] == {"4": 6}
    ratio = verdict(summary, "retries_per_call")
    assert ratio.status == "fail" and ratio.value == pytest.approx(3.0)


def test_fixed_delays_are_synchronized_spread_delays_are_not(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    for i in range(8):
        rid = f"spread-{i}"
        w.request(25.0 + i, latency_ms=2000, request_id=rid)
        calls.append({"at": 25.0 + i, "status": 500, "request_id": rid, "fingerprint": "e" * 16})
        gap = 0.1 + 0.2 * i  # 0.1 … 1.5 s: jittered
        calls.append({"at": 25.05 + i + gap, "request_id": rid, "fingerprint": "e" * 16})
    summary = analyse(w, calls)
    jitter = verdict(summary, "jitter")
    assert jitter.status == "pass"

    only_fixed = RunDirWriter(w.run_dir.parent / "fixed")
    timeline(only_fixed)
    fixed_calls: list[dict[str, Any]] = []
    for i in range(8):
        chain(only_fixed, fixed_calls, 11.0 + i, [1.0 + 0.001 * i], status=500)
    fixed = verdict(analyse(only_fixed, fixed_calls), "jitter")
    assert fixed.status == "fail"
    assert fixed.value is not None and fixed.value < 0.1
    assert jitter.value is not None and jitter.value > fixed.value


def test_work_after_the_user_gave_up_and_duplicates(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    gone = w.request(12.0, latency_ms=500, ok=False, status=0, error_class="timeout")
    calls.append({"at": 12.1, "request_id": gone, "latency_ms": 900.0})  # runs past the timeout
    calls.append({"at": 13.0, "request_id": gone})  # starts after the user left
    twice = w.request(14.0, latency_ms=300)
    calls.append({"at": 14.01, "request_id": twice})
    calls.append({"at": 14.1, "request_id": twice})  # the same call again, after a 200
    summary = analyse(w, calls)
    abandoned = verdict(summary, "abandoned_work")
    assert abandoned.status == "fail"
    assert abandoned.evidence["calls_after_request_ended"] == 1
    assert abandoned.evidence["after_user_timeout"] == 1
    assert abandoned.evidence["calls_running_past_user_timeout"] == 1
    assert abandoned.examples == [gone]
    duplicates = verdict(summary, "duplicates")
    assert duplicates.status == "fail" and duplicates.evidence["duplicates"] == 2
    assert set(duplicates.examples) == {gone, twice}


def test_retries_at_two_layers(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    rid = w.request(12.0, latency_ms=3000)
    # The SDK retries once (count 0, 1); the application then starts the SDK call afresh.
    for at, count, status in ((12.0, 0, 500), (12.5, 1, 500), (13.5, 0, 500), (14.0, 1, 200)):
        calls.append({"at": at, "request_id": rid, "retry_count": count, "status": status})
    single = chain(w, calls, 20.0, [0.5], status=500, header=True)
    summary = analyse(w, calls)
    found = verdict(summary, "multi_layer_retries")
    assert found.status == "fail"
    assert found.examples == [rid]
    assert found.evidence["both_layers"] == 1 and single not in found.examples


def test_cut_streams_answered_200_and_client_deadlines(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    for i in range(6):
        rid = w.request(11.0 + i, latency_ms=2100)
        calls.append(
            {
                "at": 11.0 + i,
                "request_id": rid,
                "stream": True,
                "stream_completed": False,
                "latency_ms": 2000.0 + i,  # every stream cut at ~2 s: a deadline
            }
        )
    summary = analyse(w, calls)
    truncated = verdict(summary, "truncated_accepted")
    assert truncated.status == "fail" and truncated.evidence["answered_200"] == 6
    deadlines = verdict(summary, "stream_deadlines")
    assert deadlines.status == "fail"
    assert deadlines.value == pytest.approx(1.0)
    assert "2 s after they started" in deadlines.summary


def test_cost_per_phase_success_and_waste(run_writer: RunDirWriter) -> None:
    w = run_writer
    timeline(w)
    calls: list[dict[str, Any]] = []
    baseline_traffic(w, calls)  # 5 calls of 100 in + 50 out, all served
    failed = w.request(12.0, ok=False, status=502)
    calls.append({"at": 12.01, "request_id": failed})  # billed but wasted
    calls.append({"at": 12.2, "request_id": failed, "status": 500})  # not billed
    calls.append({"at": 13.0, "model": "my-finetune", "request_id": w.request(13.0)})
    w.scenario_yaml(
        "name: cost\nduration: 50s\nsut: {url: 'http://127.0.0.1:1'}\n"
        "prices:\n  my-finetune: {input: 10.0, output: 20.0}\n"
    )
    summary = analyse(w, calls)
    mini = DEFAULT_PRICES["gpt-4o-mini"]
    one = (100 * mini.input + 50 * mini.output) / 1e6
    base = summary.phases["baseline"]
    assert base.cost_usd == pytest.approx(5 * one)
    assert base.cost_per_success_usd == pytest.approx(one)
    assert base.wasted_cost_usd == 0
    fault = summary.phases["fault"]
    assert fault.wasted_cost_usd == pytest.approx(one)
    assert fault.cost_usd == pytest.approx(one + (100 * 10.0 + 50 * 20.0) / 1e6)
    assert summary.cost.prices["my-finetune"].input == 10.0
    assert sum(summary.cost.cost_usd) == pytest.approx(summary.phases["run"].cost_usd or 0)


def test_price_lookup_by_prefix() -> None:
    assert price_for("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_for("gpt-4o-2024-08-06", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o"]
    assert price_for("unknown-model", DEFAULT_PRICES) is None
    assert price_for("x", {"x": ModelPrice(input=1, output=2)}) == ModelPrice(input=1, output=2)


def test_verdicts_need_the_join(run_writer: RunDirWriter, tmp_path: Path) -> None:
    w = run_writer
    timeline(w)
    w.request(12.0)
    calls = [{"at": 12.01, "request_id": None}]
    summary = analyse(w, calls)
    assert summary.resilience["fault"] == []
    assert "X-Request-Id" in summary.phases["fault"].unavailable["retry_after_violation_rate"]
