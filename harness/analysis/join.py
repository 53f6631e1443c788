"""Which user request each provider call belongs to, and which phase each request belongs to.

Amplification is only unbiased when a call is counted with the request that caused it: a call
that *arrives* in the fault phase may belong to a request that *started* in the baseline. So
where ids join (``X-Request-Id``, or the trace id of a W3C ``traceparent`` when the call has
no request id), every call is attributed to its request, and the request's phase is decided by
one stated **boundary rule** (docs/metrics.md, "Phases"):

    a request belongs to the phase in which it started, except that a request that started in
    the baseline and was still in flight when the first fault was applied (it overlapped the
    fault phase) is a fault-phase request.

The same rule applies to every per-request figure (latency, errors, goodput, attempts), so the
baseline is never polluted by the fault. Where ids do not join, the caller keeps the time-based
estimate (calls by arrival) and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.phases import PHASE_ORDER, Timeline, assign_phases

__all__ = [
    "ATTRIBUTED",
    "MIN_JOINED_FRACTION",
    "TIME_BASED",
    "CallJoin",
    "join_calls",
    "request_phases",
]

ATTRIBUTED: Final = "attributed"
TIME_BASED: Final = "time-based estimate"
#: Attribution is used when at least this fraction of the run's provider calls join a request.
MIN_JOINED_FRACTION: Final = 0.99

_BASELINE: Final = PHASE_ORDER.index("baseline")
_FAULT: Final = PHASE_ORDER.index("fault")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def request_phases(
    t_start: FloatArray, t_end: FloatArray, latency_ms: FloatArray, timeline: Timeline
) -> IntArray:
    """The phase code (index into PHASE_ORDER, -1 outside the run) of every request, by the
    boundary rule: started in baseline and still in flight at the fault's start → fault."""
    codes = assign_phases(t_start, timeline)
    edges = timeline.boundaries
    if edges is None or timeline.phases["fault"].start is None:
        return codes
    fault_start = edges[2]
    # A request still in flight when the run was cut has no t_end: its latency says how long
    # it had been running.
    end = np.where(np.isnan(t_end), t_start + np.nan_to_num(latency_ms) / 1000.0, t_end)
    straddles = (codes == _BASELINE) & (end > fault_start)
    codes[straddles] = _FAULT
    return codes


@dataclass(frozen=True)
class CallJoin:
    """The join of provider calls to user requests."""

    #: index into the request frame of each call's request; -1 when the call joins none
    call_request: IntArray
    #: provider calls per request (NaN for a request without an id)
    attempts: FloatArray
    #: calls on the request's first provider repeating an endpoint it already called
    retries: FloatArray
    #: calls on a provider other than the one the request called first
    failovers: FloatArray
    #: per call: a retry (see ``retries``) / a failover call (see ``failovers``)
    call_retry: BoolArray
    call_failover: BoolArray
    #: of the run's calls (after warm-up, before the load stopped), the fraction that joined
    joined_fraction: float
    method: str


def join_calls(
    req_ids: npt.NDArray[np.uint64],
    call_ids: npt.NDArray[np.uint64],
    call_t: FloatArray,
    call_provider: IntArray,
    call_endpoint: IntArray,
    call_in_run: BoolArray,
) -> CallJoin:
    """Join calls to requests on their hashed ids (0 = no id); vectorised, O(n log n)."""
    n = len(req_ids)
    has_id = req_ids != 0
    positions = pd.Series(np.arange(n, dtype=np.int64), index=req_ids)
    positions = positions[has_id]
    positions = positions[~positions.index.duplicated(keep="first")]
    call_request = np.full(len(call_ids), -1, dtype=np.int64)
    with_id = call_ids != 0
    if with_id.any() and len(positions):
        found = pd.Index(positions.index).get_indexer(call_ids[with_id])
        mapped = np.where(found >= 0, positions.to_numpy()[np.maximum(found, 0)], -1)
        call_request[with_id] = mapped
    joined = call_request >= 0
    in_run = int(call_in_run.sum())
    fraction = float((joined & call_in_run).sum() / in_run) if in_run else 0.0
    method = ATTRIBUTED if in_run and fraction >= MIN_JOINED_FRACTION else TIME_BASED

    attempts = np.bincount(call_request[joined], minlength=n).astype(np.float64)
    call_retry = np.zeros(len(call_ids), dtype=bool)
    call_failover = np.zeros(len(call_ids), dtype=bool)
    if joined.any():
        rows = np.flatnonzero(joined)
        req = call_request[rows]
        order = np.lexsort((call_t[rows], req))
        rows, req = rows[order], req[order]
        provider, endpoint = call_provider[rows], call_endpoint[rows]
        first = np.ones(len(req), dtype=bool)
        first[1:] = req[1:] != req[:-1]
        # Each call's request's first provider: the first call's provider, carried forward.
        first_provider = provider[np.flatnonzero(first)][np.cumsum(first) - 1]
        other = provider != first_provider
        call_failover[rows[other]] = True
        same = pd.DataFrame({"req": req, "endpoint": endpoint})[~other]
        again = same.duplicated(keep="first").to_numpy(dtype=bool)
        call_retry[rows[~other][again]] = True
    retries = np.bincount(call_request[call_retry], minlength=n).astype(np.float64)
    failovers = np.bincount(call_request[call_failover], minlength=n).astype(np.float64)
    for values in (attempts, retries, failovers):
        values[~has_id] = np.nan
    return CallJoin(
        call_request=call_request,
        attempts=attempts,
        retries=retries,
        failovers=failovers,
        call_retry=call_retry,
        call_failover=call_failover,
        joined_fraction=fraction,
        method=method,
    )
