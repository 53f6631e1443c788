"""Which fault did what: per fault window, the user requests it overlapped and the failures it
touched, and how long the SUT's queue took to drain after the load stopped.

Provider faults are attributed exactly: the mock marks every call a fault fired on (``fault``,
comma-joined when several fired) and the call carries the user request's id. Network faults
(Toxiproxy) leave no mark on the call, so for them only the time overlap is known.
"""

from __future__ import annotations

import numpy as np

from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun
from harness.analysis.models import FaultWindowResult
from harness.analysis.phases import FaultRecord

__all__ = ["attribute_faults", "drain_time_s"]


def attribute_faults(data: RunData, prepared: PreparedRun) -> list[FaultWindowResult]:
    """One result per fault window, in the order the faults were applied."""
    edges = prepared.timeline.boundaries
    end_of_run = edges[-1] if edges is not None else np.inf
    calls = data.provider_calls
    call_fault = calls["fault"]
    labels = [str(c) for c in call_fault.cat.categories] if len(calls) else []
    request_ids = data.requests["request_id"].to_numpy(dtype=np.uint64)
    failed_ids = request_ids[prepared.req_failed & (request_ids != 0)]
    call_ids = calls["request_id"].to_numpy(dtype=np.uint64)
    results = []
    for fault in prepared.timeline.faults:
        until = fault.removed_at if fault.removed_at is not None else end_of_run
        during = (prepared.req_t >= fault.applied_at) & (prepared.req_t < until)
        failed_during = during & prepared.req_failed
        classes = prepared.req_error_class[failed_during].dropna().astype(str).value_counts()
        hit_labels = [label for label in labels if fault.name in label.split(",")]
        in_window = (prepared.call_t >= fault.applied_at) & (prepared.call_t <= until)
        hit = call_fault.isin(hit_labels).to_numpy(dtype=bool) & in_window
        hit_ids = call_ids[hit & (call_ids != 0)]
        span = until - fault.applied_at
        latencies = prepared.req_latency[during]
        results.append(
            _result(
                fault,
                requests_during=int(during.sum()),
                failed_during=int(failed_during.sum()),
                goodput_during_rps=float((during & prepared.req_good).sum() / span)
                if span > 0
                else None,
                latency_p95_during_ms=float(np.percentile(latencies, 95))
                if latencies.size
                else None,
                calls_hit=int(hit.sum()),
                failed_requests_hit=int(np.isin(failed_ids, hit_ids).sum()),
                error_classes_during={str(k): int(v) for k, v in sorted(classes.items())},
            )
        )
    return results


def _result(fault: FaultRecord, **impact: object) -> FaultWindowResult:
    return FaultWindowResult.model_validate(
        {
            "name": fault.name,
            "kind": fault.kind,
            "target": fault.target,
            "applied_at": fault.applied_at,
            "removed_at": fault.removed_at,
            "planned_applied_at": fault.planned_applied_at,
            "planned_removed_at": fault.planned_removed_at,
            "params": fault.params,
            **impact,
        }
    )


def drain_time_s(prepared: PreparedRun) -> tuple[float | None, str]:
    """Seconds from load_stopped until the SUT queue first reads 0, and a sentence about it."""
    stopped = prepared.timeline.load_stopped
    if stopped is None:
        return None, "the load never stopped cleanly (aborted run)"
    after = prepared.queue_t >= stopped
    if not after.any():
        return None, "no SUT queue-depth sample after the load stopped"
    times = prepared.queue_t[after]
    empty = prepared.queue_value[after] <= 0
    if not empty.any():
        last = float(prepared.queue_value[after][-1])
        return None, f"the SUT queue had not drained at the last sample ({last:g})"
    return float(times[empty][0] - stopped), "time until the SUT queue first read 0"
