"""The joined provider calls in chain order, as arrays: what the resilience checks read.

One sort puts the calls of each user request and fingerprint together (a chain: the attempt,
then its retries), and every per-call fact a check needs is computed once here as a numpy column,
so each check (harness.analysis.resilience_checks) is a few vectorised masks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun

__all__ = [
    "CUT_FAULT_TYPES",
    "PAUSE_FAULT_TYPES",
    "BoolArray",
    "ChainCalls",
    "FloatArray",
    "IntArray",
    "chain_calls",
    "last_call_rows",
    "request_groups",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
U64Array = npt.NDArray[np.uint64]

#: Provider fault types that cut or spoil a stream from the provider's side (so a cut stream
#: that met one is the provider's doing, not a client deadline).
CUT_FAULT_TYPES: Final = frozenset(
    {"stream_truncate", "connection_reset", "malformed_frame", "stream_error"}
)
#: Provider fault types that pause a stream (an idle timeout shorter than the pause cuts it).
PAUSE_FAULT_TYPES: Final = frozenset({"stream_stall", "slow_cadence", "slow_first_token"})


@dataclass(frozen=True)
class ChainCalls:
    """The joined calls in chain order: sorted by (request, fingerprint, arrival)."""

    rid: U64Array
    t: FloatArray
    t_end: FloatArray
    status: FloatArray
    ok: BoolArray
    cut: BoolArray
    stream: BoolArray
    retry_after: FloatArray
    #: the retry-after of the reply before each row (NaN where none, or on attempts)
    prev_asked: FloatArray
    #: retries after a failed call whose reply set no wait: the client chose the delay
    self_timed: BoolArray
    retry_count: FloatArray
    phase: IntArray
    #: the call met a fault that cuts or spoils a stream / that pauses one
    provider_cut: BoolArray
    paused: BoolArray
    #: True where the row is a retry (the row before it is the same chain)
    retry: BoolArray
    #: 1 for the first retry, 2 for the second … (0 on attempts)
    retry_no: IntArray
    gap: FloatArray
    chain: IntArray
    chain_phase: IntArray
    req_t_end: FloatArray
    req_status: FloatArray
    req_timeout: BoolArray
    tokens: FloatArray


def chain_calls(
    data: RunData, prepared: PreparedRun, fault_types: Mapping[str, str]
) -> ChainCalls | None:
    """The calls carrying a user request's X-Request-Id, in chain order (None: none)."""
    calls = data.provider_calls
    rid_all = calls["request_id"].to_numpy(dtype=np.uint64)
    # The join already found each call's request (the first request with its id); a call
    # joined only by its traceparent has no X-Request-Id and is not judged here.
    call_request = prepared.call_request
    # A call with an X-Request-Id is ordered by it (harness.analysis.chains): the shared order,
    # less the calls that only a traceparent joined or that joined no request.
    keep = (rid_all != 0) & (call_request >= 0)
    shared = prepared.call_chain_order
    order = shared[keep[shared]]
    if order.size == 0:
        return None
    t_all = calls["t"].to_numpy(dtype=np.float64)
    fp_all = calls["fingerprint"].to_numpy(dtype=np.uint64)

    rid = rid_all[order]
    fp = fp_all[order]
    t = t_all[order]
    t_end = calls["t_end"].to_numpy(dtype=np.float64)[order]
    t_end = np.where(np.isnan(t_end), t, t_end)
    status = calls["status"].to_numpy(dtype=np.float64)[order]
    completed = calls["stream_completed"].to_numpy(dtype=np.float64)[order]
    cut = completed == 0.0
    ok = (status >= 200) & (status < 300) & ~cut
    stream = calls["stream"].to_numpy(dtype=np.float64)[order] == 1.0
    same = np.zeros(rid.size, dtype=bool)
    same[1:] = (rid[1:] == rid[:-1]) & (fp[1:] == fp[:-1])
    chain = np.cumsum(~same) - 1
    starts = np.flatnonzero(~same)
    position = np.arange(rid.size) - starts[chain]
    gap = np.full(rid.size, np.nan)
    gap[1:] = t[1:] - t_end[:-1]
    gap[~same] = np.nan
    retry_after = calls["retry_after_s"].to_numpy(dtype=np.float64)[order]
    # The wait the reply before each retry asked for (NaN on attempts and where none was set).
    prev_asked = np.full(rid.size, np.nan)
    prev_asked[1:] = retry_after[:-1]
    prev_failed = np.zeros(rid.size, dtype=bool)
    prev_failed[1:] = ~ok[:-1]

    # The phase each call counts in, as everywhere else in the summary (harness.analysis.join).
    phase = prepared.call_phase[order]
    chain_phase = phase[starts][chain]

    # The user request each call served: when it ended, how, and whether the user timed out.
    req = data.requests
    served = call_request[order]
    timeout = (req["error_class"].astype(object) == "timeout").to_numpy(dtype=bool)

    # The fault column is categorical: per distinct value, whether it names a fault that cuts
    # or pauses a stream, then a lookup per call by category code (code -1: no fault).
    fault_cat = pd.Categorical(calls["fault"])
    table = [
        frozenset(fault_types.get(part.strip(), part.strip()) for part in str(name).split(","))
        for name in fault_cat.categories
    ]
    codes = np.asarray(fault_cat.codes, dtype=np.int64)[order]
    provider_cut = np.array([bool(types & CUT_FAULT_TYPES) for types in table] + [False])
    paused = np.array([bool(types & PAUSE_FAULT_TYPES) for types in table] + [False])

    tokens = np.nan_to_num(calls["tokens_in"].to_numpy(dtype=np.float64)[order]) + np.nan_to_num(
        calls["tokens_out"].to_numpy(dtype=np.float64)[order]
    )
    return ChainCalls(
        rid=rid,
        t=t,
        t_end=t_end,
        status=status,
        ok=ok,
        cut=cut,
        stream=stream,
        retry_after=retry_after,
        prev_asked=prev_asked,
        self_timed=np.asarray(same & prev_failed & np.isnan(prev_asked), dtype=bool),
        retry_count=calls["retry_count"].to_numpy(dtype=np.float64)[order],
        phase=phase,
        provider_cut=np.asarray(provider_cut[codes], dtype=bool),
        paused=np.asarray(paused[codes], dtype=bool),
        retry=same,
        retry_no=np.asarray(position, dtype=np.int64),
        gap=gap,
        chain=np.asarray(chain, dtype=np.int64),
        chain_phase=chain_phase,
        req_t_end=req["t_end"].to_numpy(dtype=np.float64)[served],
        req_status=req["status"].to_numpy(dtype=np.float64)[served],
        req_timeout=timeout[served],
        tokens=tokens,
    )


def request_groups(c: ChainCalls, rows: IntArray) -> IntArray:
    """Where each request's run of ``rows`` starts (rows in chain order: requests contiguous)."""
    rid = c.rid[rows]
    return np.flatnonzero(np.concatenate(([True], rid[1:] != rid[:-1])))


def last_call_rows(c: ChainCalls, mask: BoolArray) -> IntArray:
    """Per request, the row of its last call (by arrival) among ``mask``, in request order.

    Ties go to the later row and a call without an arrival time counts as the last, as a
    stable sort by arrival would have it; one pass over the rows, no sort.
    """
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return rows
    starts = request_groups(c, rows)
    first = np.zeros(rows.size, dtype=bool)
    first[starts] = True
    group = np.cumsum(first) - 1
    t = c.t[rows]
    missing = np.isnan(t)
    latest = np.maximum.reduceat(np.where(missing, -np.inf, t), starts)
    any_missing = np.logical_or.reduceat(missing, starts)
    candidate = np.where(any_missing[group], missing, ~missing & (t == latest[group]))
    picked = np.flatnonzero(candidate)
    last_of_group = np.ones(picked.size, dtype=bool)
    last_of_group[:-1] = group[picked[1:]] != group[picked[:-1]]
    return np.asarray(rows[picked[last_of_group]], dtype=np.int64)
