"""Run directory → pandas frames, read in bounded chunks.

A long run writes millions of request and provider-call lines, so the JSONL files are never
turned into one Python list of row dicts: every ``chunk_rows`` lines become a typed frame (float64
and bool arrays, categoricals, and request ids hashed to uint64) of only the fields the analysis
uses, so peak memory is one chunk plus compact columns. A chunk is parsed by polars' native
NDJSON reader wherever that is known to agree with this module's own reader (``fast_read``), and
by the latter (orjson, a small batch at a time) otherwise: about 10x faster, same frames.

Writers append and flush as they go, so a crashed run may end in a half-written line; such lines
(and any other undecodable line) are skipped and counted in ``RunData.skipped_lines`` rather than
failing the whole analysis.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import orjson
import pandas as pd
import polars as pl
from pandas.api.types import union_categoricals

from harness.analysis.fast_read import fast_chunk, hash_strings
from harness.analysis.row_blocks import FileBlocks, remember, stamp_of

__all__ = [
    "CALL_COLUMNS",
    "REQUEST_COLUMNS",
    "SUT_METRIC_COLUMNS",
    "RunData",
    "hash_ids",
    "load_run",
    "read_jsonl_frame",
]

#: How a JSON value becomes a column: float (null → NaN), bool (null → False),
#: tristate (true → 1.0, false → 0.0, null → NaN), category (low-cardinality text),
#: id (text compared only for equality, stored as a uint64 hash; null → 0),
#: trace_id (a W3C ``traceparent``'s trace id, hashed like an id; null or malformed → 0).
ColumnKind = Literal["float", "bool", "tristate", "category", "id", "trace_id"]

REQUEST_COLUMNS: Final[Mapping[str, ColumnKind]] = {
    "t_start": "float",
    "t_end": "float",
    "latency_ms": "float",
    "ttft_ms": "float",
    "status": "float",
    "ok": "bool",
    "valid": "tristate",
    "error_class": "category",
    "name": "category",
    "request_id": "id",
}

CALL_COLUMNS: Final[Mapping[str, ColumnKind]] = {
    "t": "float",
    "t_end": "float",
    "status": "float",
    "request_id": "id",
    "tokens_in": "float",
    "tokens_out": "float",
    "in_flight": "float",
    "provider": "category",
    "name": "category",
    "endpoint": "category",
    "fault": "category",
    "stream_completed": "tristate",
    "retry_count": "float",
    "fingerprint": "id",
    "traceparent": "trace_id",
    # Read by the client-resilience verdicts and the cost (harness.analysis.resilience, .cost).
    "retry_after_s": "float",
    "model": "category",
    "stream": "tristate",
    "tokens_cached": "float",
}

SUT_METRIC_COLUMNS: Final[Mapping[str, ColumnKind]] = {
    "t": "float",
    "name": "category",
    "value": "float",
}

DEFAULT_CHUNK_ROWS: Final = 50_000
_DECODE_BATCH: Final = 512
_PROBE_BYTES: Final = 1 << 20
_MIN_READ: Final = 64 << 10


@dataclass(frozen=True)
class RunData:
    """Everything analysis reads from one run directory."""

    run_dir: Path
    run_info: dict[str, Any]
    events: list[dict[str, Any]]
    requests: pd.DataFrame
    provider_calls: pd.DataFrame
    sut_metrics: pd.DataFrame
    #: file name → number of lines that could not be decoded (e.g. a crash's half line)
    skipped_lines: dict[str, int] = field(default_factory=dict)
    #: file name → number of chunks it was read in (evidence of bounded reading)
    chunks_read: dict[str, int] = field(default_factory=dict)


def load_run(run_dir: Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> RunData:
    """Read a run directory; missing files give empty frames with the documented columns."""
    skipped: dict[str, int] = {}
    chunks: dict[str, int] = {}

    def frame(paths: list[Path], columns: Mapping[str, ColumnKind]) -> pd.DataFrame:
        parts: list[pd.DataFrame] = []
        read: list[tuple[Path, _ReadStats]] = []
        for path in paths:
            stats = _ReadStats(stamp=stamp_of(path))
            parts.extend(_iter_chunks(path, columns, chunk_rows, stats))
            skipped[path.name] = stats.skipped
            chunks[path.name] = stats.chunks
            read.append((path, stats))
        merged = _concat(parts, columns)
        if "request_id" in columns:
            _remember_blocks(read, merged["request_id"].to_numpy(dtype=np.uint64))
        return merged

    # Sharded writers (Locust workers) may write requests.<worker>.jsonl beside requests.jsonl.
    request_files = sorted(run_dir.glob("requests*.jsonl"))
    requests = frame(request_files, REQUEST_COLUMNS)
    calls = frame(_existing(run_dir / "provider_calls.jsonl"), CALL_COLUMNS)
    sut = frame(_existing(run_dir / "sut_metrics.jsonl"), SUT_METRIC_COLUMNS)
    events, bad_events = _read_events(run_dir / "events.jsonl")
    if bad_events:
        skipped["events.jsonl"] = bad_events
    return RunData(
        run_dir=run_dir,
        run_info=_read_run_info(run_dir / "run.json"),
        events=events,
        requests=requests,
        provider_calls=calls,
        sut_metrics=sut,
        skipped_lines={k: v for k, v in skipped.items() if v},
        chunks_read=chunks,
    )


def read_jsonl_frame(
    path: Path, columns: Mapping[str, ColumnKind], *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> pd.DataFrame:
    """One JSONL file as a typed frame of ``columns``, read ``chunk_rows`` lines at a time."""
    return _concat(list(_iter_chunks(path, columns, chunk_rows, _ReadStats())), columns)


@dataclass
class _ReadStats:
    skipped: int = 0
    chunks: int = 0
    #: (size, mtime_ns) of the file before it was read
    stamp: tuple[int, int] = (0, 0)
    #: per chunk that gave rows: (byte offset, byte length, index of its first row)
    blocks: list[tuple[int, int, int]] = field(default_factory=list)
    rows: int = 0


def _remember_blocks(read: list[tuple[Path, _ReadStats]], hashes: npt.NDArray[np.uint64]) -> None:
    """Record where each file's rows are (harness.analysis.row_blocks) for example lookups."""
    start = 0
    for path, stats in read:
        layout = np.array(stats.blocks, dtype=np.int64).reshape(-1, 3)
        remember(
            path,
            FileBlocks(
                stamp=stats.stamp,
                offsets=layout[:, 0],
                lengths=layout[:, 1],
                first_rows=layout[:, 2],
                hashes=hashes[start : start + stats.rows],
            ),
        )
        start += stats.rows


def _existing(path: Path) -> list[Path]:
    return [path] if path.is_file() else []


def _iter_chunks(
    path: Path, columns: Mapping[str, ColumnKind], chunk_rows: int, stats: _ReadStats
) -> Iterator[pd.DataFrame]:
    """Typed frames of ``chunk_rows`` lines each: polars' reader where it agrees with the
    reference (``fast_read``), else this module's own decoding for that chunk."""
    offset = 0
    for blob, lines in _line_chunks(path, chunk_rows):
        frame = fast_chunk(blob, lines, columns)
        if frame is None:
            frame = _slow_chunk(blob.split(b"\n"), columns, stats)
        if len(frame):
            stats.chunks += 1
            stats.blocks.append((offset, len(blob), stats.rows))
            stats.rows += len(frame)
            yield frame
        offset += len(blob)


def _line_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[bytes, int]]:
    """(bytes, line count) of runs of about ``chunk_rows`` whole lines each.

    Splitting a file into Python line objects costs about a microsecond a line; reading blocks
    of about ``chunk_rows`` typical lines (the typical length learnt from the file's first
    mebibyte) and cutting each at its last newline does not.
    """
    with path.open("rb") as handle:
        probe = handle.read(_PROBE_BYTES)
        width = max(len(probe) // max(probe.count(b"\n"), 1), 1)
        handle.seek(0)
        size = max(chunk_rows * width, _MIN_READ)
        while block := handle.read(size):
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                more = handle.read(size)
                if more:  # one line longer than the block: read on, with a bigger block
                    handle.seek(-len(block) - len(more), os.SEEK_CUR)
                    size *= 2
                    continue
                cut = len(block)
            if cut < len(block):
                # Give back the part line after the last newline: it starts the next chunk.
                handle.seek(cut - len(block), os.SEEK_CUR)
                block = block[:cut]
            yield block, block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


def _slow_chunk(
    raw: list[bytes], columns: Mapping[str, ColumnKind], stats: _ReadStats
) -> pd.DataFrame:
    """The reference reader: orjson a small batch at a time, then one rule per column kind."""
    names = list(columns)
    buffers: dict[str, list[Any]] = {name: [] for name in names}
    raw = [line for line in raw if line.strip()]
    for start in range(0, len(raw), _DECODE_BATCH):
        batch = raw[start : start + _DECODE_BATCH]
        rows = _decode(batch, stats)
        # Keep only the wanted fields; the decoded dicts die with this batch.
        for name in names:
            buffers[name].extend([row.get(name) for row in rows])
    return _to_frame(buffers, columns)


def _decode(lines: list[bytes], stats: _ReadStats) -> list[dict[str, Any]]:
    """Decode a batch of lines with one orjson call, line by line only if that fails.

    One call for many lines is much faster than one per line, but orjson builds a document
    several times the input's size first, so batches stay small (``_DECODE_BATCH``).
    """
    if not lines:
        return []
    rows: list[Any]
    try:
        rows = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        rows = []
        for line in lines:
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                rows.append(None)
    objects = [row for row in rows if isinstance(row, dict)]
    stats.skipped += len(rows) - len(objects)
    return objects


def _to_frame(buffers: dict[str, list[Any]], columns: Mapping[str, ColumnKind]) -> pd.DataFrame:
    return pd.DataFrame({name: _column(buffers[name], kind) for name, kind in columns.items()})


def _column(values: list[Any], kind: ColumnKind) -> Any:
    if kind == "float":
        try:
            return np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            # A stray string or object in a numeric field: that cell becomes NaN, not the file.
            coerced = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
            return coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "tristate":
        return np.array(
            [1.0 if v is True else 0.0 if v is False else np.nan for v in values],
            dtype=np.float64,
        )
    if kind == "bool":
        return np.array([v is True for v in values], dtype=bool)
    if kind == "trace_id":
        # version-traceid-parentid-flags; the trace id names the user request end to end.
        values = [_trace_id(v) for v in values]
    strings = np.array([v if type(v) is str else None for v in values], dtype=object)
    if kind in ("id", "trace_id"):
        return hash_ids(strings)
    # Per chunk, so repeated strings (error classes, names) are stored once per chunk. The
    # categories are always object dtype: union_categoricals needs the same dtype in every
    # chunk, and pandas would infer a different one for a chunk where the field is all null.
    present = strings[~pd.isna(strings)]
    categories = pd.Index(pd.unique(present), dtype=object)
    return pd.Categorical(strings, categories=categories)


def _trace_id(value: Any) -> str | None:
    if type(value) is not str:
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    return parts[1].lower()


def hash_ids(strings: npt.NDArray[np.object_]) -> npt.NDArray[np.uint64]:
    """64-bit hashes of id strings, 0 for a missing id.

    Ids are only ever compared for equality (joining calls to requests, spotting repeated
    calls), so a hash does the job at 8 bytes a row instead of a ~90-byte Python string; with
    64 bits a collision among a few million ids has a probability below one in a million.
    """
    if strings.size == 0:
        return np.zeros(0, dtype=np.uint64)
    # The same hash as the fast path's (fast_read.hash_strings), so both paths join.
    values = [v if type(v) is str else None for v in strings.tolist()]
    return hash_strings(pl.Series(values, dtype=pl.String))


def _concat(parts: list[pd.DataFrame], columns: Mapping[str, ColumnKind]) -> pd.DataFrame:
    if not parts:
        return _to_frame({name: [] for name in columns}, columns)
    if len(parts) == 1:
        return parts[0]
    categories = [name for name, kind in columns.items() if kind == "category"]
    merged = pd.concat([part.drop(columns=categories) for part in parts], ignore_index=True)
    for name in categories:
        # union_categoricals keeps the column categorical across chunks with different
        # categories (plain concat would fall back to one Python string per row).
        merged[name] = union_categoricals([part[name] for part in parts], ignore_order=True)
    return merged[list(columns)]


def _read_events(path: Path) -> tuple[list[dict[str, Any]], int]:
    """events.jsonl is small (one line per timeline change), so a list of dicts is fine."""
    events: list[dict[str, Any]] = []
    bad = 0
    if not path.is_file():
        return events, bad
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if isinstance(obj, dict) and isinstance(obj.get("t"), int | float):
                events.append(obj)
            else:
                bad += 1
    events.sort(key=lambda e: float(e["t"]))
    return events, bad


def _read_run_info(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
