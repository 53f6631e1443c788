"""The fast path of reading a JSONL chunk: polars' native NDJSON reader, checked to agree.

Decoding a million-line file into Python dicts and picking fields out of them costs a few
microseconds a line, which at 4 M lines is most of an analysis; polars parses NDJSON straight
into typed columns in native code. It is only trusted where it gives exactly what the reference
reader (``loading._slow_chunk``: orjson, then per-field rules) gives, so a chunk is handed back
(``None``) whenever polars could disagree:

- a line polars cannot decode, a value of the wrong JSON type in a number or boolean field, or a
  non-string in a low-cardinality text field (read as ``pl.Categorical``, which polars refuses
  for non-strings): polars raises;
- a non-string in an id field (read as text, where polars would turn ``5`` into ``"5"``): when
  some id looks like what polars makes of a number, boolean, object or array, the number of
  non-null ids must equal the number of ``"field":"`` tokens in the chunk's bytes;
- a line that yields no row, or a row from no line: the row count must match the line count.

The caller then reads that chunk the slow way, so a crash's half-written last line costs one
slow chunk, not a slow file. Two differences remain, both in input no brownout writer produces:
a key repeated within one line (polars keeps the first, orjson the last) and a lone UTF-16
surrogate escape (orjson refuses the line, polars keeps it).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

__all__ = ["fast_chunk", "hash_strings"]

#: The seed of every id hash, so an id read by any path hashes to the same 64-bit value.
_SEED: Final = 0x62726F776E6F7574  # "brownout"

#: What polars writes for a non-string JSON value read as text: a number in plain decimal (JSON
#: numbers have no leading zeros, so neither has this), true/false, or an object or array.
_STRINGIFIED: Final = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$|^(true|false)$|^[\[{]"

_DTYPES: Final[Mapping[str, Any]] = {
    "float": pl.Float64,
    "bool": pl.Boolean,
    "tristate": pl.Boolean,
    "category": pl.Categorical,
    "id": pl.String,
    "trace_id": pl.String,
}


def hash_strings(series: pl.Series) -> npt.NDArray[np.uint64]:
    """64-bit hashes of a text column; 0 for null (no id), and a real hash never 0."""
    hashed = series.hash(seed=_SEED).to_numpy().astype(np.uint64, copy=True)
    hashed[hashed == 0] = 1
    hashed[series.is_null().to_numpy()] = 0
    return hashed


def fast_chunk(blob: bytes, lines: int, columns: Mapping[str, str]) -> pd.DataFrame | None:
    """The typed frame of ``blob``'s ``lines`` JSON lines (see ``loading.REQUEST_COLUMNS``), or
    None to read them the slow way because polars could disagree with the reference reader."""
    schema = {name: _DTYPES[kind] for name, kind in columns.items()}
    try:
        frame = pl.read_ndjson(io.BytesIO(blob), schema=schema)
    except (pl.exceptions.PolarsError, ValueError, OverflowError):
        return None
    if frame.height != lines and frame.height != sum(
        1 for line in blob.split(b"\n") if line.strip()
    ):
        return None
    out: dict[str, Any] = {}
    for name, kind in columns.items():
        series = frame.get_column(name)
        if kind == "float":
            out[name] = series.to_numpy().astype(np.float64, copy=False)
        elif kind == "bool":
            out[name] = series.fill_null(False).to_numpy().astype(bool, copy=False)
        elif kind == "tristate":
            out[name] = series.cast(pl.Float64).to_numpy().astype(np.float64, copy=False)
        elif kind == "category":
            out[name] = _categorical(series)
        else:
            if not _all_strings(blob, name, series):
                return None
            if kind == "trace_id":
                traced = _trace_ids(series)
                if traced is None:
                    return None
                series = traced
            out[name] = hash_strings(series)
    return pd.DataFrame(out)


def _all_strings(blob: bytes, name: str, series: pl.Series) -> bool:
    """Every non-null value of ``name`` was a JSON string (polars would stringify a number)."""
    present = series.len() - series.null_count()
    if present == 0:
        return True
    if not series.str.contains(_STRINGIFIED).any():
        # No value is what polars makes of a JSON number, boolean, object or array, so every
        # one was a string: no need to count the key's string values in the bytes.
        return True
    key = b'"' + name.encode() + b'"'
    compact = blob.count(key + b':"')
    return present == compact or present == compact + blob.count(key + b': "')


def _categorical(series: pl.Series) -> pd.Categorical:
    """Categories in order of first appearance, as ``pd.unique`` gives them on the slow path."""
    uniques = series.drop_nulls().unique(maintain_order=True)
    # Polars' own codes, renumbered in order of first appearance through a lookup table.
    physical = series.to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    table = np.full(int(physical.max(initial=-1)) + 2, -1, dtype=np.int64)
    table[uniques.to_physical().cast(pl.Int64).to_numpy()] = np.arange(uniques.len())
    return pd.Categorical.from_codes(
        table[physical], categories=pd.Index(uniques.cast(pl.String).to_list(), dtype=object)
    )


def _trace_ids(series: pl.Series) -> pl.Series | None:
    """The trace id of each W3C ``traceparent`` (version-traceid-parentid-flags), null when
    missing or malformed; None for non-ASCII text, whose lower-casing the slow path owns."""
    if series.null_count() == series.len():
        return series
    if bool(series.str.contains(r"[^\x00-\x7f]").fill_null(False).any()):
        return None
    parts = series.str.split("-")
    trace = parts.list.get(1, null_on_oob=True)
    valid = (parts.list.len() == 4) & (trace.str.len_chars() == 32) & (trace != "0" * 32)
    lowered = trace.str.to_lowercase()
    return pl.select(
        pl.when(pl.lit(valid.fill_null(False))).then(pl.lit(lowered)).otherwise(None)
    ).to_series()
