"""The recovery verdict: recovered (and when), metastable, or undetermined.

A release gate must not flip on one noisy second. The recovery phase is cut into whole windows;
each window's goodput and p95 are compared with thresholds drawn from the baseline *and its own
window-to-window spread*, and a **rolling median of k windows** is judged, so a single jittery
window (a GC pause, a busy neighbour on the CI machine) can neither break nor fake a recovery.

Three outcomes (docs/metrics.md, "Recovery"):

* ``recovered``: the first window ``i`` that is itself healthy and at which the median goodput
  of windows ``i..i+k-1`` is at or above the floor and their median p95 at or below the
  ceiling; the recovery time is ``i · window_s`` after the last fault was removed.
* ``metastable``: no such window, and the recovery phase lasted at least ``min_judge_s``
  (``max(2·k·window_s, MIN_METASTABLE_S)``): the failure outlived its trigger long enough to
  say so.
* ``undetermined``: no recovery phase, no baseline, or a recovery phase too short to judge.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import pandas as pd

from harness.analysis.metrics import FloatArray, PreparedRun, phase_mask
from harness.analysis.models import PhaseMetrics, RecoveryResult

__all__ = ["MIN_METASTABLE_S", "compute_recovery", "min_judge_s", "recovery_phase_warning"]

#: A recovery phase shorter than this cannot be called metastable: services with a circuit
#: breaker or a backoff cap legitimately take several seconds to come back.
MIN_METASTABLE_S: Final = 10.0


def min_judge_s(windows: int, window_s: float) -> float:
    """The shortest recovery phase in which "never recovered" is a verdict, not a guess."""
    return max(2 * windows * window_s, MIN_METASTABLE_S)


def compute_recovery(
    prepared: PreparedRun,
    baseline: PhaseMetrics,
    *,
    window_s: float,
    epsilon: float,
    windows: int,
    latency_slack_ms: float = 0.0,
) -> RecoveryResult:
    """Judge recovery after the last fault_removed (see the module docstring).

    * floor = min((1-ε)·baseline goodput, 10th percentile of the baseline's own windows),
    * ceiling = max((1+ε)·baseline p95, baseline p95 + ``latency_slack_ms``,
      90th percentile of the baseline's window p95s).

    The percentile terms apply once the baseline has at least ``windows`` whole windows: a
    healthy service whose latency jitters by more than ε from window to window would fail a
    pure ε test in its own baseline.
    """
    judge_s = min_judge_s(windows, window_s)
    result = RecoveryResult(
        epsilon=epsilon,
        windows=windows,
        window_s=window_s,
        baseline_goodput_rps=baseline.goodput_rps,
        baseline_p95_ms=baseline.latency_p95_ms,
        min_judge_s=judge_s,
    )
    recovery = prepared.timeline.phases["recovery"]
    if recovery.start is None or recovery.end is None:
        result.reason = f"undetermined: the recovery phase did not happen: {recovery.absent_reason}"
        return result
    if baseline.goodput_rps is None or baseline.latency_p95_ms is None:
        missing = baseline.unavailable.get("latency_p95_ms") or baseline.unavailable.get(
            "goodput_rps", "baseline goodput unknown"
        )
        result.reason = f"undetermined: no baseline to recover to: {missing}"
        return result

    goodput_floor = (1.0 - epsilon) * baseline.goodput_rps
    p95_ceiling = max(
        (1.0 + epsilon) * baseline.latency_p95_ms, baseline.latency_p95_ms + latency_slack_ms
    )
    base = prepared.timeline.phases["baseline"]
    if base.start is not None and base.end is not None:
        base_good, base_p95 = window_stats(prepared, "baseline", base.start, base.end, window_s)
        base_p95 = base_p95[~np.isnan(base_p95)]
        if base_good.size >= windows and base_p95.size >= windows:
            goodput_floor = min(goodput_floor, float(np.percentile(base_good, 10)))
            p95_ceiling = max(p95_ceiling, float(np.percentile(base_p95, 90)))
    result.goodput_floor_rps = goodput_floor
    result.p95_ceiling_ms = p95_ceiling

    good_rps, p95 = window_stats(prepared, "recovery", recovery.start, recovery.end, window_s)
    whole = good_rps.size
    if whole >= windows:
        # A window without requests has no p95: it counts as unhealthy (infinitely slow).
        p95_filled = np.where(np.isnan(p95), np.inf, p95)
        good_median = _rolling_median(good_rps, windows)
        p95_median = _rolling_median(p95_filled, windows)
        # The first window of the run must itself be healthy, so the time is not too early.
        start_ok = (good_rps >= goodput_floor) & (p95_filled <= p95_ceiling)
        healthy = (
            (good_median >= goodput_floor)
            & (p95_median <= p95_ceiling)
            & start_ok[: good_median.size]
        )
        if healthy.any():
            first = int(np.flatnonzero(healthy)[0])
            result.verdict = "recovered"
            result.recovery_time_s = first * window_s
            result.metastable = False
            result.reason = (
                f"recovered {first * window_s:g} s after the last fault was removed (median "
                f"of {windows} consecutive {window_s:g} s windows at baseline level: goodput >= "
                f"{goodput_floor:.3g}/s and p95 <= {p95_ceiling:.4g} ms)"
            )
            return result
    lasted = recovery.end - recovery.start
    if lasted < judge_s:
        result.reason = (
            f"undetermined: the recovery phase lasted {lasted:.3g} s, shorter than the "
            f"{judge_s:g} s needed to call a brownout metastable, and the service was not yet "
            f"back at baseline level"
        )
        return result
    result.verdict = "metastable"
    result.metastable = True
    result.reason = (
        f"metastable: never recovered in {lasted:.3g} s after the last fault was removed "
        f"({whole} whole {window_s:g} s windows; no median of {windows} consecutive windows had "
        f"goodput >= {goodput_floor:.3g}/s and p95 <= {p95_ceiling:.4g} ms)"
    )
    return result


def _rolling_median(values: FloatArray, k: int) -> FloatArray:
    """Median of values[i:i+k] for every i with a whole run of k windows."""
    view = np.lib.stride_tricks.sliding_window_view(values, k)
    return np.asarray(np.median(view, axis=1), dtype=np.float64)


def window_stats(
    prepared: PreparedRun, phase: str, start: float, end: float, window_s: float
) -> tuple[FloatArray, FloatArray]:
    """Goodput (req/s) and p95 latency of each whole ``window_s`` window of ``phase`` requests
    started in [start, end); p95 is NaN for a window without requests."""
    whole = max(math.floor((end - start) / window_s + 1e-9), 0)
    in_phase = phase_mask(prepared.req_phase, phase)
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


def recovery_phase_warning(scenario: Any, *, windows: int = 3, window_s: float = 1.0) -> str | None:
    """Why this scenario's recovery phase is too short for the recovery rule, or None.

    For ``brownout validate``: a recovery phase shorter than ``min_judge_s`` can only end in
    ``recovered`` or ``undetermined``, never in a verdict that the brownout persisted.
    """
    if not scenario.faults:
        return None
    last_end = max(float(f.end_s) for f in scenario.faults)
    lasts = float(scenario.duration_s) - last_end
    needed = min_judge_s(windows, window_s)
    if lasts >= needed:
        return None
    return (
        f"the recovery phase lasts {lasts:g} s (duration {scenario.duration_s:g} s, last fault "
        f"ends at {last_end:g} s), shorter than the {needed:g} s the recovery rule needs to call "
        "a brownout metastable: a service still failing then is 'undetermined'; --time-scale "
        "shortens it further"
    )
