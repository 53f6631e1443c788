"""Request traces: one user request reconstructed from the run directory.

A trace is the request as the load generator saw it (timing, status, error), every provider call
it caused (joined by ``X-Request-Id``: provider, endpoint, model, status, fault met, retry count,
tokens, in-flight count, network toxics active meanwhile), and the spans the SUT exported over
OTLP (``spans.jsonl``, joined by trace id: the load generator's ``traceparent`` uses the request
id as trace id, or a span may carry the request id as its ``request_id`` attribute).

Traces are read lazily: the files are streamed once, and only lines that mention one of the
wanted ids are decoded, so tracing a few requests of a million-request run costs one sequential
read, not a load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import polars as pl

from harness.analysis.fast_read import hash_strings
from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun
from harness.analysis.phases import PHASE_ORDER
from harness.analysis.request_ids import resolve_request_ids
from harness.analysis.row_blocks import blocks_of, read_blocks_holding
from harness.analysis.verdict_models import TraceCall, TraceSpan, WorstRequest
from harness.bodies import BODIES_FILE, PROVIDER_BODIES_FILE

__all__ = [
    "BODIES_FILE",
    "SPANS_FILE",
    "build_traces",
    "pick_worst",
    "read_trace",
    "toxic_windows",
    "worst_traces",
]

SPANS_FILE: Final = "spans.jsonl"
#: A provider body line belongs to the journal's call that started within this many seconds.
_BODY_MATCH_S: Final = 1.0
SLOWEST: Final = 3
FAILED: Final = 2
_ID: Final = re.compile(rb'"request_id"\s*:\s*"([^"\\]*)"')
_SCAN_BLOCK: Final = 16 << 20


def pick_worst(
    data: RunData, prepared: PreparedRun, *, slowest: int = SLOWEST, failed: int = FAILED
) -> list[tuple[int, str]]:
    """(request-id hash, why) of the slowest requests after warm-up, then failed ones."""
    ids = data.requests["request_id"].to_numpy(dtype=np.uint64)
    after_warmup = prepared.req_phase >= PHASE_ORDER.index("baseline")
    usable = after_warmup & (ids != 0) & ~np.isnan(prepared.req_latency)
    chosen: list[tuple[int, str]] = []
    rows = np.flatnonzero(usable)
    if rows.size:
        latency = prepared.req_latency[rows]
        top = rows[np.argsort(-latency, kind="stable")[:slowest]]
        for rank, row in enumerate(top, start=1):
            chosen.append((int(ids[row]), f"slowest #{rank}"))
    seen = {h for h, _ in chosen}
    failures = np.flatnonzero(usable & prepared.req_failed)
    if failures.size:
        # Spread the failed examples over the run rather than taking the first few.
        picks = np.unique(np.linspace(0, failures.size - 1, num=min(failed * 3, failures.size)))
        for pick in picks.astype(np.int64):
            h = int(ids[failures[pick]])
            if h not in seen and sum(1 for _, w in chosen if w.startswith("failed")) < failed:
                cls = prepared.req_error_class.iloc[int(failures[pick])]
                chosen.append((h, f"failed ({cls})"))
                seen.add(h)
    return chosen


def toxic_windows(events: Sequence[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """(fault name, applied, removed) of every network fault (``proxy/…`` target)."""
    open_at: dict[str, float] = {}
    windows: list[tuple[str, float, float]] = []
    end = max((float(e["t"]) for e in events), default=0.0)
    for event in events:
        target = str(event.get("target") or "")
        if not target.startswith("proxy/"):
            continue
        name = str(event.get("fault"))
        if event.get("type") == "fault_applied":
            open_at[name] = float(event["t"])
        elif event.get("type") == "fault_removed" and name in open_at:
            windows.append((name, open_at.pop(name), float(event["t"])))
    windows.extend((name, start, end) for name, start in open_at.items())
    return windows


def build_traces(
    run_dir: Path,
    wanted: Iterable[tuple[str, str]],
    events: Sequence[dict[str, Any]] = (),
    phase_of: dict[str, str] | None = None,
) -> list[WorstRequest]:
    """The traces of ``wanted`` (request id, why), in that order; ids not found are skipped."""
    order = [(rid, why) for rid, why in wanted if rid]
    if not order:
        return []
    ids = {rid for rid, _ in order}
    requests = _scan(sorted(run_dir.glob("requests*.jsonl")), ids, "request_id")
    calls = _scan([run_dir / "provider_calls.jsonl"], ids, "request_id", many=True)
    spans = _scan_spans(run_dir / SPANS_FILE, ids)
    # Opt-in bodies (harness.bodies): one line per user request at the load generator (one
    # file per Locust worker), one per provider call at the mocks.
    bodies = _scan(sorted(run_dir.glob(BODIES_FILE.replace(".", "*.", 1))), ids, "request_id")
    call_bodies = _scan([run_dir / PROVIDER_BODIES_FILE], ids, "request_id", many=True)
    windows = toxic_windows(events)
    traces: list[WorstRequest] = []
    for rid, why in order:
        row = requests.get(rid)
        if not row:
            continue
        record = row[0]
        trace_calls = sorted((_call(c, windows) for c in calls.get(rid, [])), key=lambda c: c.t)
        _attach_bodies(trace_calls, call_bodies.get(rid, []))
        body = bodies.get(rid, [{}])[0]
        traces.append(
            WorstRequest(
                request_id=rid,
                why=why,
                t_start=float(record.get("t_start") or 0.0),
                t_end=_float(record.get("t_end")),
                latency_ms=_float(record.get("latency_ms")),
                status=_int(record.get("status")),
                error_class=record.get("error_class"),
                phase=(phase_of or {}).get(rid),
                calls=trace_calls,
                spans=sorted(spans.get(rid, []), key=lambda s: s.t),
                request_body=_body(body.get("request")),
                response_body=_body(body.get("response")),
            )
        )
    return traces


def read_trace(run_dir: Path, request_id: str) -> WorstRequest | None:
    """One request's trace, or None when no request has that id."""
    events = _events(run_dir)
    found = build_traces(run_dir, [(request_id, "requested")], events)
    return found[0] if found else None


def worst_traces(data: RunData, prepared: PreparedRun) -> list[WorstRequest]:
    """The traces ``pick_worst`` chooses, with their phases, for the summary and the report."""
    picked = pick_worst(data, prepared)
    names = resolve_request_ids(data.run_dir, [h for h, _ in picked])
    ids = data.requests["request_id"].to_numpy(dtype=np.uint64)
    phase_of: dict[str, str] = {}
    for h, _ in picked:
        if h in names:
            row = int(np.flatnonzero(ids == np.uint64(h))[0])
            phase_of[names[h]] = PHASE_ORDER[int(prepared.req_phase[row])]
    wanted = [(names[h], why) for h, why in picked if h in names]
    return build_traces(data.run_dir, wanted, data.events, phase_of)


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.is_file():
        return []
    out = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("t"), int | float):
                out.append(event)
    return sorted(out, key=lambda e: float(e["t"]))


def _scan(
    paths: Sequence[Path], ids: set[str], key: str, *, many: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Rows of ``paths`` whose ``key`` is one of ``ids``; a cheap byte test before decoding."""
    needles = [rid.encode() for rid in ids]
    found: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        for line in _lines_with_ids(path, needles, ids, key):
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            value = row.get(key) if isinstance(row, dict) else None
            if value in ids and (many or value not in found):
                found.setdefault(value, []).append(row)
    return found


def lines_containing(path: Path, needles: Sequence[bytes]) -> Iterator[bytes]:
    """The lines of ``path`` that contain any of ``needles``, in file order.

    A few ids in a file of millions of lines: searching big blocks with ``bytes.find`` (native
    speed) instead of testing every line in Python makes a lazy trace cost one fast read.
    """
    if not needles or not path.is_file():
        return
    with path.open("rb") as handle:
        carry = b""
        while True:
            block = handle.read(_SCAN_BLOCK)
            data = carry + block if carry else block
            if not block:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
            yield from _lines_in(data, cut, needles)
            if not block:
                return
            carry = data[cut:]


def _lines_in(data: bytes, cut: int, needles: Sequence[bytes]) -> Iterator[bytes]:
    """The lines of ``data[:cut]`` (whole lines) that contain any of ``needles``, in order."""
    starts: set[int] = set()
    for needle in needles:
        at = data.find(needle, 0, cut)
        while at >= 0:
            starts.add(data.rfind(b"\n", 0, at) + 1)
            at = data.find(needle, at + len(needle), cut)
    for start in sorted(starts):
        end = data.find(b"\n", start, cut)
        yield data[start : cut if end < 0 else end + 1]


def _lines_with_ids(
    path: Path, needles: Sequence[bytes], ids: set[str], key: str
) -> Iterator[bytes]:
    """``lines_containing``, but where the loader has just read ``path`` and ``key`` is the id
    it indexed, only the blocks that hold those rows are read (harness.analysis.row_blocks)."""
    loaded = blocks_of(path) if key == "request_id" and path.is_file() else None
    if loaded is None or not needles:
        yield from lines_containing(path, needles)
        return
    targets = hash_strings(pl.Series(sorted(ids), dtype=pl.String))
    for data in read_blocks_holding(path, loaded, targets):
        yield from _lines_in(data, len(data), needles)


def _scan_spans(path: Path, ids: set[str]) -> dict[str, list[TraceSpan]]:
    """Spans whose trace id is a wanted request id, or in the trace of a span that carries one
    as ``request_id`` (its children need not carry it): two lazy passes over the file, the
    second for the trace ids the first found."""
    out: dict[str, list[TraceSpan]] = {}
    if not path.is_file():
        return out
    traces_of: dict[str, str] = {}
    for row in _span_rows(path, [rid.encode() for rid in ids]):
        attrs = row.get("attributes") or {}
        rid = attrs.get("request_id") if isinstance(attrs, dict) else None
        if rid in ids and row.get("trace_id"):
            traces_of[str(row["trace_id"])] = str(rid)
    needles = [key.encode() for key in (*ids, *traces_of)]
    for row in _span_rows(path, needles):
        trace_id = str(row.get("trace_id") or "")
        owner = trace_id if trace_id in ids else traces_of.get(trace_id)
        if owner is None:
            continue
        out.setdefault(owner, []).append(
            TraceSpan(
                name=str(row.get("name") or "?"),
                t=float(row.get("t") or 0.0),
                t_end=float(row.get("t_end") or row.get("t") or 0.0),
                service=row.get("service"),
                span_id=row.get("span_id"),
                parent_span_id=row.get("parent_span_id"),
                status=row.get("status"),
                attributes=row.get("attributes") or {},
            )
        )
    return out


def _span_rows(path: Path, needles: list[bytes]) -> Iterator[dict[str, Any]]:
    """The decoded lines of ``path`` that contain one of ``needles``."""
    for line in lines_containing(path, needles):
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(row, dict):
            yield row


def _call(row: dict[str, Any], windows: Sequence[tuple[str, float, float]]) -> TraceCall:
    t = float(row.get("t") or 0.0)
    t_end = _float(row.get("t_end"))
    end = t if t_end is None else t_end
    return TraceCall(
        t=t,
        t_end=t_end,
        provider=row.get("provider"),
        name=row.get("name"),
        endpoint=row.get("endpoint"),
        model=row.get("model"),
        status=_int(row.get("status")),
        fault=row.get("fault"),
        retry_count=_int(row.get("retry_count")),
        retry_after_s=_float(row.get("retry_after_s")),
        tokens_in=_int(row.get("tokens_in")),
        tokens_out=_int(row.get("tokens_out")),
        stream=row.get("stream") if isinstance(row.get("stream"), bool) else None,
        stream_completed=row.get("stream_completed")
        if isinstance(row.get("stream_completed"), bool)
        else None,
        in_flight=_int(row.get("in_flight")),
        toxics=[name for name, start, stop in windows if start <= end and t <= stop],
    )


def _attach_bodies(calls: Sequence[TraceCall], rows: Sequence[dict[str, Any]]) -> None:
    """Give each call the recorded bodies that started nearest to it (each line used once):
    the mock writes its body line as the exchange ends, so the files are not in call order."""
    free = sorted(rows, key=lambda r: _float(r.get("t")) or 0.0)
    for call in calls:
        best = min(free, key=lambda r: abs((_float(r.get("t")) or 0.0) - call.t), default=None)
        if best is None or abs((_float(best.get("t")) or 0.0) - call.t) > _BODY_MATCH_S:
            continue
        free.remove(best)
        call.request_body = _body(best.get("request"))
        call.response_body = _body(best.get("response"))


def _body(part: Any) -> str | None:
    """The recorded text of one side of an exchange ({"body": …} as harness.bodies writes)."""
    if isinstance(part, dict):
        return _text(part.get("body"))
    return _text(part)


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()
