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

from harness.analysis.loading import RunData
from harness.analysis.models import (
    AttemptsPerRequest,
    LatencyPercentiles,
    PhaseMetrics,
    RecoveryResult,
    TimeSeries,
)
from harness.analysis.phases import PHASE_ORDER, REPORTED_PHASES, Timeline, assign_phases
from harness.scenario import SLO_METRICS

__all__ = [
    "METRICS",
    "QUEUE_DEPTH_METRIC",
    "PreparedRun",
    "compute_phase_metrics",
    "compute_recovery",
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
    req_phase: IntArray
    req_latency: FloatArray
    req_failed: BoolArray
    req_good: BoolArray
    req_error_class: pd.Series
    #: provider calls per request (NaN where the request has no id); None when ids do not join
    req_attempts: FloatArray | None
    call_t: FloatArray
    call_phase: IntArray
    call_tokens: FloatArray
    call_wasted: BoolArray
    call_in_flight: FloatArray
    call_sdk_retry: BoolArray
    call_repeated: BoolArray
    queue_t: FloatArray
    queue_value: FloatArray
    queue_phase: IntArray
    latency_threshold_ms: float | None


def prepare_run(
    data: RunData, timeline: Timeline, latency_threshold_ms: float | None
) -> PreparedRun:
    req = data.requests
    req_t = req["t_start"].to_numpy(dtype=np.float64)
    latency = req["latency_ms"].to_numpy(dtype=np.float64, copy=True)
    # A row without latency_ms (older writer, crash) still has start and end times.
    missing = np.isnan(latency)
    if missing.any():
        spans = (req["t_end"].to_numpy(dtype=np.float64) - req_t) * 1000.0
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

    # Ids are uint64 hashes, 0 where the row has none (see loading.hash_ids).
    req_ids = req["request_id"].to_numpy(dtype=np.uint64)
    call_ids = calls["request_id"].to_numpy(dtype=np.uint64)
    req_has_id = req_ids != 0
    call_has_id = call_ids != 0
    known = call_has_id & np.isin(call_ids, req_ids[req_has_id])
    joined = bool(known.any())
    call_wasted = call_failed.copy()
    req_attempts: FloatArray | None = None
    if joined:
        served = np.isin(call_ids, req_ids[succeeded & req_has_id])
        call_wasted |= known & ~served
        counts = pd.Series(call_ids[call_has_id]).value_counts()
        # A fresh, writable array: under copy-on-write pandas may hand out read-only views.
        attempts: FloatArray = np.array(
            pd.Series(req_ids).map(counts).to_numpy(dtype=np.float64, na_value=np.nan),
            dtype=np.float64,
            copy=True,
        )
        attempts[req_has_id & np.isnan(attempts)] = 0.0
        attempts[~req_has_id] = np.nan
        req_attempts = attempts

    retry_count = calls["retry_count"].to_numpy(dtype=np.float64)
    call_repeated = np.zeros(len(calls), dtype=bool)
    with_id = calls.loc[call_has_id, ["t", "request_id", "fingerprint"]]
    if len(with_id):
        ordered = with_id.sort_values("t", kind="stable")
        again = ordered.duplicated(subset=["request_id", "fingerprint"], keep="first")
        call_repeated[again.index[again.to_numpy(dtype=bool)].to_numpy()] = True

    sut = data.sut_metrics
    queue = sut[sut["name"].astype(object) == QUEUE_DEPTH_METRIC]
    # Several label sets (e.g. one queue per worker) sampled at the same time add up.
    queue_by_t = queue.groupby("t", sort=True)["value"].sum()
    queue_t = queue_by_t.index.to_numpy(dtype=np.float64)
    queue_value = queue_by_t.to_numpy(dtype=np.float64)

    return PreparedRun(
        timeline=timeline,
        req_t=req_t,
        req_t_end=req["t_end"].to_numpy(dtype=np.float64),
        req_end_phase=assign_phases(req["t_end"].to_numpy(dtype=np.float64), timeline),
        req_ttft=req["ttft_ms"].to_numpy(dtype=np.float64),
        req_succeeded=succeeded,
        req_phase=assign_phases(req_t, timeline),
        req_latency=latency,
        req_failed=~ok,
        req_good=good,
        req_error_class=error_class.reset_index(drop=True),
        req_attempts=req_attempts,
        call_t=call_t,
        call_phase=assign_phases(call_t, timeline),
        call_tokens=tokens,
        call_wasted=call_wasted,
        call_in_flight=calls["in_flight"].to_numpy(dtype=np.float64),
        call_sdk_retry=np.asarray(retry_count >= 1, dtype=bool),
        call_repeated=call_repeated,
        queue_t=queue_t,
        queue_value=queue_value,
        queue_phase=assign_phases(queue_t, timeline),
        latency_threshold_ms=latency_threshold_ms,
    )


def _phase_mask(codes: IntArray, phase: str) -> BoolArray:
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


def compute_phase_metrics(prepared: PreparedRun) -> dict[str, PhaseMetrics]:
    """Every metric for baseline, fault, recovery and run, in REPORTED_PHASES order.

    retry_amplification needs baseline's fan-out, and recovery_time_s comes from
    ``compute_recovery``; both are filled in here and by ``analyze_run`` respectively.
    """
    results: dict[str, PhaseMetrics] = {}
    for name in REPORTED_PHASES:
        results[name] = _one_phase(prepared, name)
    base_fan_out = results["baseline"].fan_out
    for metrics in results.values():
        if metrics.fan_out is None:
            reason = metrics.unavailable.get("fan_out", "fan-out not computable")
            metrics.unavailable["retry_amplification"] = reason
        elif base_fan_out is None or base_fan_out == 0:
            why = results["baseline"].unavailable.get("fan_out", "baseline fan-out is 0")
            metrics.unavailable["retry_amplification"] = f"no baseline to compare with: {why}"
        else:
            metrics.retry_amplification = metrics.fan_out / base_fan_out
    return results


def _one_phase(prepared: PreparedRun, name: str) -> PhaseMetrics:
    phase = prepared.timeline.phases[name]
    metrics = PhaseMetrics(start=phase.start, end=phase.end, duration_s=phase.duration_s)
    if phase.start is None or phase.end is None:
        reason = f"the {name} phase did not happen: {phase.absent_reason}"
        metrics.unavailable = {metric: reason for metric in METRICS}
        return metrics
    why = metrics.unavailable
    duration = phase.end - phase.start

    mask = _phase_mask(prepared.req_phase, name)
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
    no_requests = f"no user requests started in the {name} phase"
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
        completions = int(_phase_mask(prepared.req_end_phase, name).sum())
        metrics.rate_deficit = 1.0 - completions / count

    call_mask = _phase_mask(prepared.call_phase, name)
    attempts = int(call_mask.sum())
    metrics.provider_attempts = attempts
    if count:
        metrics.fan_out = attempts / count
    metrics.tokens_total = int(prepared.call_tokens[call_mask].sum())
    metrics.wasted_tokens = int(prepared.call_tokens[call_mask & prepared.call_wasted].sum())
    successes = int(prepared.req_succeeded[mask].sum())
    if successes:
        metrics.tokens_per_success = metrics.tokens_total / successes
    metrics.sdk_retry_calls = int((call_mask & prepared.call_sdk_retry).sum())
    metrics.repeated_calls = int((call_mask & prepared.call_repeated).sum())
    in_flight = prepared.call_in_flight[call_mask]
    in_flight = in_flight[~np.isnan(in_flight)]
    if in_flight.size:
        metrics.max_provider_in_flight = float(in_flight.max())
    else:
        why["max_provider_in_flight"] = f"no provider call with in_flight arrived in {name}"

    queue = prepared.queue_value[_phase_mask(prepared.queue_phase, name)]
    queue = queue[~np.isnan(queue)]
    if queue.size:
        metrics.max_queue_depth = float(queue.max())
    else:
        why["max_queue_depth"] = f"no {QUEUE_DEPTH_METRIC} sample from the SUT in {name}"

    if prepared.req_attempts is None:
        metrics.attempts_per_request = AttemptsPerRequest()
    else:
        per_request = prepared.req_attempts[mask]
        per_request = per_request[~np.isnan(per_request)]
        if per_request.size:
            metrics.attempts_per_request = AttemptsPerRequest(
                p50=float(np.percentile(per_request, 50)),
                p99=float(np.percentile(per_request, 99)),
                max=float(per_request.max()),
            )
    if name not in ("recovery", "run"):
        why["recovery_time_s"] = "recovery time is measured in the recovery phase"
    return metrics


def compute_recovery(
    prepared: PreparedRun,
    baseline: PhaseMetrics,
    *,
    window_s: float,
    epsilon: float,
    windows: int,
    latency_slack_ms: float = 0.0,
) -> RecoveryResult:
    """Time from the last fault_removed until ``windows`` consecutive windows of ``window_s``
    are back at baseline level: goodput ≥ the floor and p95 ≤ the ceiling, where

    * floor = min((1-ε)·baseline goodput, 10th percentile of the baseline's own windows),
    * ceiling = max((1+ε)·baseline p95, baseline p95 + ``latency_slack_ms``,
      90th percentile of the baseline's window p95s).

    The percentile terms keep the verdict from calling a healthy system "not recovered" just
    because its latency is a few milliseconds and jitters by more than ε from window to window
    (the baseline itself would fail a pure ε test); they apply once the baseline has at least
    ``windows`` whole windows. The slack says the same in absolute terms: a p95 a few
    milliseconds above the baseline's is not a brownout anyone would notice.

    The first window starts at the last fault_removed; recovery_time_s is the start of the
    first window of the run of good windows, measured from there. Only whole windows before
    the load stops count: a run that never gets there is **metastable**.
    """
    result = RecoveryResult(
        epsilon=epsilon,
        windows=windows,
        window_s=window_s,
        baseline_goodput_rps=baseline.goodput_rps,
        baseline_p95_ms=baseline.latency_p95_ms,
    )
    recovery = prepared.timeline.phases["recovery"]
    if recovery.start is None or recovery.end is None:
        result.reason = f"the recovery phase did not happen: {recovery.absent_reason}"
        return result
    if baseline.goodput_rps is None or baseline.latency_p95_ms is None:
        missing = baseline.unavailable.get("latency_p95_ms") or baseline.unavailable.get(
            "goodput_rps", "baseline goodput unknown"
        )
        result.reason = f"no baseline to recover to: {missing}"
        return result

    goodput_floor = (1.0 - epsilon) * baseline.goodput_rps
    p95_ceiling = max(
        (1.0 + epsilon) * baseline.latency_p95_ms, baseline.latency_p95_ms + latency_slack_ms
    )
    base = prepared.timeline.phases["baseline"]
    if base.start is not None and base.end is not None:
        base_good, base_p95 = _window_stats(prepared, "baseline", base.start, base.end, window_s)
        base_p95 = base_p95[~np.isnan(base_p95)]
        if base_good.size >= windows and base_p95.size >= windows:
            goodput_floor = min(goodput_floor, float(np.percentile(base_good, 10)))
            p95_ceiling = max(p95_ceiling, float(np.percentile(base_p95, 90)))
    result.goodput_floor_rps = goodput_floor
    result.p95_ceiling_ms = p95_ceiling

    start = recovery.start
    good_rps, p95 = _window_stats(prepared, "recovery", start, recovery.end, window_s)
    whole = good_rps.size
    # A window with no requests has no p95 and cannot count as recovered.
    healthy = (good_rps >= goodput_floor) & ~np.isnan(p95) & (p95 <= p95_ceiling)

    streak = 0
    for index, ok in enumerate(healthy.tolist()):
        streak = streak + 1 if ok else 0
        if streak == windows:
            first = index - windows + 1
            result.recovery_time_s = first * window_s
            result.metastable = False
            result.reason = (
                f"recovered {first * window_s:g} s after the last fault was removed "
                f"({windows} consecutive {window_s:g} s windows at baseline level)"
            )
            return result
    result.metastable = True
    result.reason = (
        f"never recovered: in {whole} whole {window_s:g} s windows after the last fault was "
        f"removed there were never {windows} in a row with goodput >= {goodput_floor:.3g}/s "
        f"and p95 <= {p95_ceiling:.4g} ms"
    )
    return result


def _window_stats(
    prepared: PreparedRun, phase: str, start: float, end: float, window_s: float
) -> tuple[FloatArray, FloatArray]:
    """Goodput (req/s) and p95 latency of each whole ``window_s`` window of ``phase`` requests
    started in [start, end); p95 is NaN for a window without requests."""
    whole = max(math.floor((end - start) / window_s + 1e-9), 0)
    in_phase = _phase_mask(prepared.req_phase, phase)
    bins = np.floor((prepared.req_t[in_phase] - start) / window_s).astype(np.int64)
    keep = (bins >= 0) & (bins < whole)
    frame = pd.DataFrame(
        {
            "bin": bins[keep],
            "good": prepared.req_good[in_phase][keep],
            "latency": prepared.req_latency[in_phase][keep],
        }
    )
    grouped = frame.groupby("bin")
    good_rps = grouped["good"].sum().reindex(range(whole), fill_value=0).to_numpy() / window_s
    p95 = grouped["latency"].quantile(0.95).reindex(range(whole)).to_numpy(dtype=np.float64)
    return good_rps.astype(np.float64), p95


def compute_timeseries(prepared: PreparedRun, *, window_s: float) -> TimeSeries:
    """Per-window rates, latency percentiles, queue depth and provider in-flight for charts."""
    edges = prepared.timeline.boundaries
    if edges is None:
        return TimeSeries(window_s=window_s)
    t0, end = edges[0], edges[-1]
    span = max(end - t0, 0.0)
    width = max(window_s, span / MAX_SERIES_WINDOWS)
    count = max(math.ceil(span / width - 1e-9), 1)
    index = range(count)

    def bins_of(times: FloatArray) -> tuple[IntArray, BoolArray]:
        bins = np.floor((times - t0) / width).astype(np.int64)
        inside = (bins >= 0) & (bins < count) & ~np.isnan(times)
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

    # The last window may be cut short by the end of the run; rates divide by what it lasted.
    widths = [width] * count
    widths[-1] = max(min(width, end - (t0 + (count - 1) * width)), 1e-9)

    def rate(series: pd.Series) -> list[float]:
        counts = series.reindex(index, fill_value=0).tolist()
        return [float(v) / w for v, w in zip(counts, widths, strict=True)]

    def optional(series: pd.Series) -> list[float | None]:
        values = series.reindex(index).to_numpy(dtype=np.float64)
        return [None if math.isnan(v) else float(v) for v in values.tolist()]

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
        queue_depth=optional(queue["value"].max()),
        provider_in_flight=optional(calls["in_flight"].max()),
    )
