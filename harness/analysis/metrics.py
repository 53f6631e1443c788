"""Metric definitions: per-phase metrics, recovery time and per-window series.

This module is where each metric is defined (docs/metrics.md says the same in words). All of it
is vectorised over the frames from ``loading``; no per-row Python loops.

- requests: user requests that *started* in the phase. failed = ``ok`` is false.
- provider_attempts: provider calls that *arrived* in the phase.
- fan_out = provider_attempts ÷ requests; retry_amplification = fan_out ÷ fan_out(baseline).
- good request: ok, ``valid`` not false, and latency ≤ the latency threshold (when there is one).
- goodput_rps = good requests ÷ phase duration; good_request_fraction = good ÷ requests.
- wasted_tokens: tokens (in + out) of calls that failed (status 0 or ≥ 400, or a stream cut
  short), plus calls whose request_id names a user request that did not succeed.
- percentiles: numpy's linear interpolation between closest ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.chains import chain_order, repeats
from harness.analysis.join import ATTRIBUTED, join_calls, request_phases
from harness.analysis.loading import RunData
from harness.analysis.models import (
    AttemptsPerRequest,
    LatencyPercentiles,
    PhaseMetrics,
    ProviderFigures,
    TimeSeries,
)
from harness.analysis.phases import PHASE_ORDER, REPORTED_PHASES, Timeline, assign_phases
from harness.analysis.stage_times import stage
from harness.scenario import SLO_METRICS

__all__ = [
    "METRICS",
    "QUEUE_DEPTH_METRIC",
    "PreparedRun",
    "compute_phase_metrics",
    "compute_timeseries",
    "prepare_run",
]

#: Every metric computed per phase: exactly the metrics an SLO may name.
METRICS: Final[tuple[str, ...]] = SLO_METRICS

#: The SUT gauge (sut_metrics.jsonl ``name``) that max_queue_depth reads.
QUEUE_DEPTH_METRIC: Final = "sut_queue_depth"

#: Chart series are capped at this many windows; longer runs get wider chart windows.
MAX_SERIES_WINDOWS: Final = 5_000

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PreparedRun:
    """Per-row derived columns, computed once and shared by every phase and window."""

    timeline: Timeline
    req_t: FloatArray
    req_t_end: FloatArray
    req_end_phase: IntArray
    req_ttft: FloatArray
    req_succeeded: BoolArray
    #: the phase of each request by the boundary rule (harness.analysis.join)
    req_phase: IntArray
    #: the phase in which each request started (time-based)
    req_start_phase: IntArray
    req_latency: FloatArray
    req_failed: BoolArray
    req_good: BoolArray
    req_error_class: pd.Series
    #: provider calls per request (NaN where the request has no id); None when ids do not join
    req_attempts: FloatArray | None
    req_retries: FloatArray | None
    req_failovers: FloatArray | None
    call_t: FloatArray
    #: each call's duration at the provider (t_end - t), NaN where unknown
    call_duration_ms: FloatArray
    #: each call's phase: its request's, when attributed; else the phase it arrived in
    call_phase: IntArray
    call_arrival_phase: IntArray
    call_joined: BoolArray
    #: index into the request frame of each call's request (-1: none), as the join found it
    call_request: IntArray
    call_tokens: FloatArray
    call_failed: BoolArray
    call_wasted: BoolArray
    call_in_flight: FloatArray
    call_sdk_retry: BoolArray
    call_repeated: BoolArray
    #: calls with an id, by (id, fingerprint, arrival): see harness.analysis.chains
    call_chain_order: IntArray
    call_retry: BoolArray
    call_failover: BoolArray
    call_provider: IntArray
    call_provider_names: list[str]
    call_endpoint: IntArray
    call_endpoint_names: list[str]
    queue_t: FloatArray
    queue_value: FloatArray
    queue_phase: IntArray
    latency_threshold_ms: float | None
    method: str
    joined_fraction: float

    @property
    def attributed(self) -> bool:
        return self.method == ATTRIBUTED


def _codes(column: pd.Series) -> tuple[IntArray, list[str]]:
    categorical = pd.Categorical(column)
    return (
        np.asarray(categorical.codes, dtype=np.int64),
        [str(c) for c in categorical.categories],
    )


def prepare_run(
    data: RunData, timeline: Timeline, latency_threshold_ms: float | None
) -> PreparedRun:
    req = data.requests
    req_t = req["t_start"].to_numpy(dtype=np.float64)
    req_t_end = req["t_end"].to_numpy(dtype=np.float64)
    latency = req["latency_ms"].to_numpy(dtype=np.float64, copy=True)
    # A row without latency_ms (older writer, crash) still has start and end times.
    missing = np.isnan(latency)
    if missing.any():
        spans = (req_t_end - req_t) * 1000.0
        latency[missing] = spans[missing]
    ok = req["ok"].to_numpy(dtype=bool)
    valid = req["valid"].to_numpy(dtype=np.float64)
    # The record format makes ok imply validated; "valid is not false" guards other writers.
    succeeded = ok & (valid != 0.0)
    good = succeeded.copy()
    if latency_threshold_ms is not None:
        good &= latency <= latency_threshold_ms
    error_class = req["error_class"].astype(object).where(~pd.Series(ok), None)
    error_class = error_class.where(ok | error_class.notna(), "unclassified")

    calls = data.provider_calls
    call_t = calls["t"].to_numpy(dtype=np.float64)
    status = calls["status"].to_numpy(dtype=np.float64)
    stream_completed = calls["stream_completed"].to_numpy(dtype=np.float64)
    call_failed = np.isnan(status) | (status == 0) | (status >= 400) | (stream_completed == 0.0)
    tokens = np.nan_to_num(calls["tokens_in"].to_numpy(dtype=np.float64)) + np.nan_to_num(
        calls["tokens_out"].to_numpy(dtype=np.float64)
    )

    # Ids are uint64 hashes, 0 where the row has none (see loading.hash_ids); a call without
    # X-Request-Id joins on its traceparent's trace id.
    req_ids = req["request_id"].to_numpy(dtype=np.uint64)
    call_ids = calls["request_id"].to_numpy(dtype=np.uint64)
    trace_ids = calls["traceparent"].to_numpy(dtype=np.uint64)
    call_ids = np.where(call_ids != 0, call_ids, trace_ids)
    provider_codes, provider_names = _codes(calls["name"])
    endpoint_codes, endpoint_names = _codes(calls["endpoint"])
    arrival_phase = assign_phases(call_t, timeline)
    with stage("join"):
        join = join_calls(
            req_ids,
            call_ids,
            call_t,
            provider_codes,
            endpoint_codes,
            arrival_phase >= PHASE_ORDER.index("baseline"),
        )
    joined = join.call_request >= 0
    attributed = join.method == ATTRIBUTED

    req_phase = request_phases(req_t, req_t_end, latency, timeline)
    call_phase = arrival_phase.copy()
    if attributed:
        call_phase[joined] = req_phase[join.call_request[joined]]

    call_wasted = call_failed.copy()
    call_wasted[joined] |= ~succeeded[join.call_request[joined]]

    retry_count = calls["retry_count"].to_numpy(dtype=np.float64)
    # A repeat: an earlier call (by arrival) of the same request had the same fingerprint.
    fingerprints = calls["fingerprint"].to_numpy(dtype=np.uint64)
    order = chain_order(call_ids, fingerprints, call_t)
    call_repeated = np.zeros(len(calls), dtype=bool)
    call_repeated[order[repeats(order, call_ids, fingerprints)]] = True

    sut = data.sut_metrics
    queue = sut[sut["name"].astype(object) == QUEUE_DEPTH_METRIC]
    # Several label sets (e.g. one queue per worker) sampled at the same time add up.
    queue_by_t = queue.groupby("t", sort=True)["value"].sum()
    queue_t = queue_by_t.index.to_numpy(dtype=np.float64)
    queue_value = queue_by_t.to_numpy(dtype=np.float64)

    any_join = bool(joined.any())
    return PreparedRun(
        timeline=timeline,
        req_t=req_t,
        req_t_end=req_t_end,
        req_end_phase=assign_phases(req_t_end, timeline),
        req_ttft=req["ttft_ms"].to_numpy(dtype=np.float64),
        req_succeeded=succeeded,
        req_phase=req_phase,
        req_start_phase=assign_phases(req_t, timeline),
        req_latency=latency,
        req_failed=~ok,
        req_good=good,
        req_error_class=error_class.reset_index(drop=True),
        req_attempts=join.attempts if any_join else None,
        req_retries=join.retries if any_join else None,
        req_failovers=join.failovers if any_join else None,
        call_t=call_t,
        call_duration_ms=(calls["t_end"].to_numpy(dtype=np.float64) - call_t) * 1000.0,
        call_phase=call_phase,
        call_arrival_phase=arrival_phase,
        call_joined=joined,
        call_request=join.call_request,
        call_tokens=tokens,
        call_failed=call_failed,
        call_wasted=call_wasted,
        call_in_flight=calls["in_flight"].to_numpy(dtype=np.float64),
        call_sdk_retry=np.asarray(retry_count >= 1, dtype=bool),
        call_repeated=call_repeated,
        call_chain_order=order,
        call_retry=join.call_retry,
        call_failover=join.call_failover,
        call_provider=provider_codes,
        call_provider_names=provider_names,
        call_endpoint=endpoint_codes,
        call_endpoint_names=endpoint_names,
        queue_t=queue_t,
        queue_value=queue_value,
        queue_phase=assign_phases(queue_t, timeline),
        latency_threshold_ms=latency_threshold_ms,
        method=join.method,
        joined_fraction=join.joined_fraction,
    )


def phase_mask(codes: IntArray, phase: str) -> BoolArray:
    if phase == "run":
        return np.asarray(codes >= PHASE_ORDER.index("baseline"), dtype=bool)
    return np.asarray(codes == PHASE_ORDER.index(phase), dtype=bool)


def _percentile(values: FloatArray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    if values.size == 0:
        return None
    return float(np.percentile(values, q))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


#: The fault phase's amplification is measured over requests that lived wholly inside it when
#: at least this many did (steady state); otherwise over all of its requests.
MIN_STEADY_REQUESTS: Final = 30


def compute_phase_metrics(prepared: PreparedRun) -> dict[str, PhaseMetrics]:
    """Every metric for baseline, fault, recovery and run, in REPORTED_PHASES order.

    retry_amplification needs baseline's fan-out, and recovery_time_s comes from
    ``compute_recovery``; both are filled in here and by ``analyze_run`` respectively.
    """
    results: dict[str, PhaseMetrics] = {}
    for name in REPORTED_PHASES:
        results[name] = _one_phase(prepared, name)
    base_fan_out = results["baseline"].fan_out
    for name, metrics in results.items():
        fan_out = metrics.fan_out
        if name == "fault" and fan_out is not None:
            fan_out = steady_fault_fan_out(prepared)[0] or fan_out
        if fan_out is None:
            reason = metrics.unavailable.get("fan_out", "fan-out not computable")
            metrics.unavailable["retry_amplification"] = reason
        elif base_fan_out is None or base_fan_out == 0:
            why = results["baseline"].unavailable.get("fan_out", "baseline fan-out is 0")
            metrics.unavailable["retry_amplification"] = f"no baseline to compare with: {why}"
        else:
            metrics.retry_amplification = fan_out / base_fan_out
    return results


def steady_fault_fan_out(prepared: PreparedRun) -> tuple[float | None, str]:
    """Mean calls of the fault-phase requests that started and ended inside the fault phase.

    Requests at the edges of the window did part of their work outside it (a request whose
    retries land after the fault was removed makes fewer calls), which biases a mean over all
    fault-phase requests low by about (request duration ÷ window length). The steady-state
    figure is what "amplification under this fault" means; it needs attribution and at least
    ``MIN_STEADY_REQUESTS`` such requests, else (None, why) and the caller keeps the mean over
    all of the phase's requests.
    """
    fault = prepared.timeline.phases["fault"]
    if fault.start is None or fault.end is None:
        return None, "no fault phase"
    if not prepared.attributed or prepared.req_attempts is None:
        return None, "provider calls do not join user requests: time-based estimate"
    inside = (
        (prepared.req_phase == PHASE_ORDER.index("fault"))
        & (prepared.req_t >= fault.start)
        & (prepared.req_t_end <= fault.end)
        & ~np.isnan(prepared.req_attempts)
    )
    count = int(inside.sum())
    if count < MIN_STEADY_REQUESTS:
        return None, (
            f"only {count} requests lived wholly inside the fault phase (fewer than "
            f"{MIN_STEADY_REQUESTS}): amplification is the mean over all fault-phase requests"
        )
    mean = float(prepared.req_attempts[inside].mean())
    return mean, (
        f"mean calls of the {count} requests that started and ended inside the fault phase "
        "(steady state), over the baseline's fan-out"
    )


def _one_phase(prepared: PreparedRun, name: str) -> PhaseMetrics:
    phase = prepared.timeline.phases[name]
    metrics = PhaseMetrics(start=phase.start, end=phase.end, duration_s=phase.duration_s)
    if phase.start is None or phase.end is None:
        reason = f"the {name} phase did not happen: {phase.absent_reason}"
        metrics.unavailable = {metric: reason for metric in METRICS}
        return metrics
    why = metrics.unavailable
    duration = phase.end - phase.start

    mask = phase_mask(prepared.req_phase, name)
    count = int(mask.sum())
    failed = int(prepared.req_failed[mask].sum())
    good = int(prepared.req_good[mask].sum())
    metrics.requests = count
    metrics.failed_requests = failed
    metrics.good_requests = good
    if duration > 0:
        metrics.throughput_rps = count / duration
        metrics.goodput_rps = good / duration
    else:
        why["throughput_rps"] = why["goodput_rps"] = f"the {name} phase lasted 0 s"
    no_requests = f"no user requests belong to the {name} phase"
    if count == 0:
        for metric in ("error_rate", "good_request_fraction", "fan_out"):
            why[metric] = no_requests
        for metric in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            why[metric] = no_requests
    else:
        metrics.error_rate = failed / count
        metrics.good_request_fraction = good / count
        latencies = prepared.req_latency[mask]
        metrics.latency_p50_ms = _percentile(latencies, 50)
        metrics.latency_p95_ms = _percentile(latencies, 95)
        metrics.latency_p99_ms = _percentile(latencies, 99)
        ok_latencies = latencies[~prepared.req_failed[mask]]
        metrics.latency_ok_ms = LatencyPercentiles(
            p50=_percentile(ok_latencies, 50),
            p95=_percentile(ok_latencies, 95),
            p99=_percentile(ok_latencies, 99),
        )
        classes = prepared.req_error_class[mask].dropna().astype(str).value_counts()
        metrics.error_classes = {str(k): int(v) for k, v in sorted(classes.items())}
        ttft = prepared.req_ttft[mask]
        metrics.ttft_ms = LatencyPercentiles(
            p50=_percentile(ttft, 50), p95=_percentile(ttft, 95), p99=_percentile(ttft, 99)
        )
        started = int(phase_mask(prepared.req_start_phase, name).sum())
        completions = int(phase_mask(prepared.req_end_phase, name).sum())
        if started:
            metrics.rate_deficit = 1.0 - completions / started

    call_mask = phase_mask(prepared.call_phase, name)
    attempts = int(call_mask.sum())
    metrics.provider_attempts = attempts
    per_request = None
    if prepared.attributed and prepared.req_attempts is not None:
        metrics.unattributed_calls = int((call_mask & ~prepared.call_joined).sum())
        per_request = prepared.req_attempts[mask]
        per_request = per_request[~np.isnan(per_request)]
        if per_request.size:
            metrics.fan_out = float(per_request.mean())
        elif count:
            why["fan_out"] = f"no request of the {name} phase carried an id"
    elif count:
        # Time-based estimate: calls that arrived in the phase per request that started in it.
        arrived = int(phase_mask(prepared.call_arrival_phase, name).sum())
        started = int(phase_mask(prepared.req_start_phase, name).sum())
        if started:
            metrics.fan_out = arrived / started
        else:
            why["fan_out"] = f"no user request started in the {name} phase"
    metrics.tokens_total = int(prepared.call_tokens[call_mask].sum())
    metrics.wasted_tokens = int(prepared.call_tokens[call_mask & prepared.call_wasted].sum())
    successes = int(prepared.req_succeeded[mask].sum())
    if successes:
        metrics.tokens_per_success = metrics.tokens_total / successes
    metrics.sdk_retry_calls = int((call_mask & prepared.call_sdk_retry).sum())
    no_join = "provider calls carry no id that joins a user request: unknown"
    if prepared.req_attempts is None:
        for metric in ("repeated_calls", "retry_calls", "failover_calls", "requests_failed_over"):
            why[metric] = no_join
    else:
        metrics.repeated_calls = int((call_mask & prepared.call_repeated).sum())
        assert prepared.req_retries is not None and prepared.req_failovers is not None
        metrics.retry_calls = int(np.nansum(prepared.req_retries[mask]))
        failovers = prepared.req_failovers[mask]
        metrics.failover_calls = int(np.nansum(failovers))
        metrics.requests_failed_over = int((failovers > 0).sum())
    _by_provider(prepared, call_mask, metrics)
    in_flight = prepared.call_in_flight[call_mask]
    in_flight = in_flight[~np.isnan(in_flight)]
    if in_flight.size:
        metrics.max_provider_in_flight = float(in_flight.max())
    else:
        why["max_provider_in_flight"] = f"no provider call with in_flight arrived in {name}"

    queue = prepared.queue_value[phase_mask(prepared.queue_phase, name)]
    queue = queue[~np.isnan(queue)]
    if queue.size:
        metrics.max_queue_depth = float(queue.max())
    else:
        why["max_queue_depth"] = f"no {QUEUE_DEPTH_METRIC} sample from the SUT in {name}"

    if per_request is not None and per_request.size:
        metrics.attempts_per_request = AttemptsPerRequest(
            mean=float(per_request.mean()),
            p50=float(np.percentile(per_request, 50)),
            p99=float(np.percentile(per_request, 99)),
            max=float(per_request.max()),
        )
    if name not in ("recovery", "run"):
        why["recovery_time_s"] = "recovery time is measured in the recovery phase"
    return metrics


def _by_provider(prepared: PreparedRun, call_mask: BoolArray, metrics: PhaseMetrics) -> None:
    """Calls, failures, tokens and call latency per provider and per provider endpoint; retries
    and failovers per provider (a failover call is counted on the provider that received it)."""
    if not call_mask.any():
        return
    provider = prepared.call_provider[call_mask]
    endpoint = prepared.call_endpoint[call_mask]
    failed = prepared.call_failed[call_mask]
    tokens = prepared.call_tokens[call_mask]
    duration = prepared.call_duration_ms[call_mask]
    retry = prepared.call_retry[call_mask]
    failover = prepared.call_failover[call_mask]
    names = prepared.call_provider_names
    endpoints = prepared.call_endpoint_names

    def label(code: int, table: list[str]) -> str:
        return table[code] if code >= 0 else "unknown"

    known = prepared.req_attempts is not None
    # A run has a few providers and endpoints: one boolean mask per group, in sorted code order.
    for code in np.unique(provider).tolist():
        rows = provider == code
        latency = _call_latency(duration[rows])
        metrics.by_provider[label(int(code), names)] = ProviderFigures(
            calls=int(rows.sum()),
            failed_calls=int(failed[rows].sum()),
            tokens=int(tokens[rows].sum()),
            retry_calls=int(retry[rows].sum()) if known else None,
            failover_calls=int(failover[rows].sum()) if known else None,
            latency_p50_ms=latency["p50"],
            latency_p95_ms=latency["p95"],
        )
    width = len(endpoints) + 1
    pair = provider * width + (endpoint + 1)
    for key_code in np.unique(pair).tolist():
        rows = pair == key_code
        p_code, e_code = divmod(int(key_code), width)
        key = f"{label(p_code, names)} {label(e_code - 1, endpoints)}"
        latency = _call_latency(duration[rows])
        metrics.by_endpoint[key] = ProviderFigures(
            calls=int(rows.sum()),
            failed_calls=int(failed[rows].sum()),
            tokens=int(tokens[rows].sum()),
            latency_p50_ms=latency["p50"],
            latency_p95_ms=latency["p95"],
        )


def _call_latency(durations: FloatArray) -> dict[str, float | None]:
    """p50 and p95 of one provider's (or endpoint's) call durations: a slow provider shows."""
    durations = durations[~np.isnan(durations)]
    if durations.size == 0:
        return {"p50": None, "p95": None}
    # One selection for both: half the cost of two np.percentile calls on millions of calls.
    p50, p95 = np.percentile(durations, [50, 95])
    return {"p50": float(p50), "p95": float(p95)}


def compute_timeseries(prepared: PreparedRun, *, window_s: float) -> TimeSeries:
    """Per-window rates, latency percentiles, queue depth and provider in-flight for charts."""
    edges = prepared.timeline.boundaries
    if edges is None:
        return TimeSeries(window_s=window_s)
    t0, end = edges[0], edges[-1]
    span = max(end - t0, 0.0)
    width = max(window_s, span / MAX_SERIES_WINDOWS)
    # Whole windows only: a last window cut short by the end of the run would divide a handful
    # of samples by a sliver of time (one call in 13 ms reads as 77 calls/s) and stretch the
    # axis. A trailing part narrower than half a window is dropped, a wider one is merged into
    # the window before it, so every plotted window is between 1 and 1.5 widths wide.
    whole = math.floor(span / width + 1e-9)
    rest = span - whole * width
    count = max(whole, 1)
    widths = [width] * count
    if whole == 0:
        widths[0] = max(span, 1e-9)
    elif rest >= width / 2:
        widths[-1] = width + rest
    cut = t0 + sum(widths)
    index = range(count)

    def bins_of(times: FloatArray) -> tuple[IntArray, BoolArray]:
        bins = np.minimum(np.floor((times - t0) / width), count - 1).astype(np.int64)
        inside = (times >= t0) & (times < cut) & ~np.isnan(times)
        return bins, inside

    req_bins, req_in = bins_of(prepared.req_t)
    requests = pd.DataFrame(
        {
            "bin": req_bins[req_in],
            "failed": prepared.req_failed[req_in],
            "good": prepared.req_good[req_in],
            "latency": prepared.req_latency[req_in],
        }
    ).groupby("bin")
    call_bins, call_in = bins_of(prepared.call_t)
    calls = pd.DataFrame(
        {"bin": call_bins[call_in], "in_flight": prepared.call_in_flight[call_in]}
    ).groupby("bin")
    queue_bins, queue_in = bins_of(prepared.queue_t)
    queue = pd.DataFrame(
        {"bin": queue_bins[queue_in], "value": prepared.queue_value[queue_in]}
    ).groupby("bin")

    def rate(series: pd.Series) -> list[float]:
        counts = series.reindex(index, fill_value=0).tolist()
        return [float(v) / w for v, w in zip(counts, widths, strict=True)]

    def optional(series: pd.Series) -> list[float | None]:
        values = series.reindex(index).to_numpy(dtype=np.float64)
        return [None if math.isnan(v) else float(v) for v in values.tolist()]

    # Fan-out per window: with attribution, the mean calls of the requests that started in the
    # window (whenever the calls came); without, calls arrived ÷ requests started.
    if prepared.attributed and prepared.req_attempts is not None:
        attempts = prepared.req_attempts[req_in]
        known = ~np.isnan(attempts)
        fan_out = optional(pd.Series(attempts[known]).groupby(req_bins[req_in][known]).mean())
    else:
        started = requests.size().reindex(index, fill_value=0).to_numpy(dtype=np.float64)
        arrived = calls.size().reindex(index, fill_value=0).to_numpy(dtype=np.float64)
        fan_out = [float(a / r) if r else None for a, r in zip(arrived, started, strict=True)]

    return TimeSeries(
        t0=t0,
        window_s=width,
        t=[i * width for i in index],
        requests_rps=rate(requests.size()),
        errors_rps=rate(requests["failed"].sum()),
        goodput_rps=rate(requests["good"].sum()),
        latency_p50_ms=optional(requests["latency"].quantile(0.5)),
        latency_p95_ms=optional(requests["latency"].quantile(0.95)),
        provider_attempts_rps=rate(calls.size()),
        fan_out=fan_out,
        queue_depth=optional(queue["value"].max()),
        provider_in_flight=optional(calls["in_flight"].max()),
    )
