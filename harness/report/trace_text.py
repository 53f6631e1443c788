"""``brownout trace``: one request's trace as text, a waterfall a terminal can show.

The same reconstruction the report's "Worst requests" section draws (harness.analysis.traces),
printed as one line per step with its offset, duration and a bar on a common time axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from harness.analysis.models import Summary
from harness.analysis.traces import read_trace
from harness.analysis.verdict_models import WorstRequest

__all__ = ["render_trace", "traces_for"]

_BAR: Final = 40


def traces_for(run_dir: Path, request_id: str | None) -> list[WorstRequest]:
    """The asked-for trace, or the worst requests summary.json lists (slowest, failed)."""
    if request_id is not None:
        found = read_trace(run_dir, request_id)
        return [] if found is None else [found]
    path = run_dir / "summary.json"
    if not path.is_file():
        return []
    return list(Summary.read(path).worst_requests)


def render_trace(trace: WorstRequest) -> str:
    starts = [trace.t_start, *(c.t for c in trace.calls), *(s.t for s in trace.spans)]
    ends = [trace.t_end or trace.t_start, *(c.t_end or c.t for c in trace.calls)]
    ends += [s.t_end for s in trace.spans]
    t0 = min(starts)
    span = max(max(ends) - t0, 1e-3)

    def bar(a: float, b: float) -> str:
        left = int((a - t0) / span * _BAR)
        width = max(1, round((b - a) / span * _BAR))
        return " " * left + "#" * min(width, _BAR - left)

    def line(label: str, a: float, b: float, detail: str) -> str:
        offset = (a - t0) * 1000
        took = (b - a) * 1000
        return f"  {label:<28} +{offset:8.1f} ms {took:8.1f} ms |{bar(a, b):<{_BAR}}| {detail}"

    status = trace.status if trace.status is not None else "?"
    head = [
        f"request {trace.request_id} ({trace.why})"
        + (f", {trace.phase} phase" if trace.phase else ""),
    ]
    steps = [
        line(
            "user request",
            trace.t_start,
            trace.t_end or trace.t_start,
            f"status {status}" + (f", {trace.error_class}" if trace.error_class else ""),
        )
    ]
    for s in trace.spans:
        steps.append(line(f"span {s.name}"[:28], s.t, s.t_end, s.service or ""))
    for n, c in enumerate(trace.calls, start=1):
        met = ", ".join(p for p in (c.fault, ",".join(c.toxics)) if p)
        detail = f"{c.name} {c.endpoint} {c.model}: {c.status}"
        if c.retry_count is not None:
            detail += f", retry count {c.retry_count}"
        if c.retry_after_s is not None:
            detail += f", retry-after {c.retry_after_s:g} s"
        if c.stream_completed is False:
            detail += ", stream cut"
        detail += f", tokens {c.tokens_in}/{c.tokens_out}"
        if met:
            detail += f", met {met}"
        steps.append(line(f"call {n}", c.t, c.t_end or c.t, detail))
        if c.request_body is not None:
            steps.append(f"      call {n} request body:  {c.request_body}")
        if c.response_body is not None:
            steps.append(f"      call {n} response body: {c.response_body}")
    body = []
    if trace.request_body is not None:
        body.append(f"  request body:  {trace.request_body}")
    if trace.response_body is not None:
        body.append(f"  response body: {trace.response_body}")
    return "\n".join(head + steps + body)
