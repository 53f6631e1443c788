"""Turning the 64-bit request-id hashes analysis works on back into the ids users can look up.

Frames keep request ids only as hashes (``loading.hash_ids``), which is what keeps a
million-request run within memory; the few ids a verdict shows as examples are recovered by one
streaming pass over the request files, a regex over big blocks that picks out only the
``request_id`` field; that pass keeps the file's id hashes, so the next lookup (a report makes
three) reads only the blocks that hold a wanted id. A file the loader has just read needs no
pass at all: ``row_blocks`` says which of its blocks hold the wanted rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from harness.analysis.fast_read import hash_strings
from harness.analysis.loading import hash_ids
from harness.analysis.row_blocks import blocks_of, read_blocks_holding

__all__ = ["resolve_request_ids"]

_ID: Final = re.compile(rb'"request_id"\s*:\s*"([^"\\]*)"')
_BLOCK: Final = 16 << 20


@dataclass(frozen=True)
class _FileIndex:
    """Where the ids of one request file are: their hashes in file order, and the blocks."""

    #: (size, mtime_ns) of the file when indexed: a changed file is indexed again
    stamp: tuple[int, int]
    hashes: npt.NDArray[np.uint64]
    #: byte offset and length of each block, and the index in ``hashes`` of its first id
    block_offset: npt.NDArray[np.int64]
    block_length: npt.NDArray[np.int64]
    block_first: npt.NDArray[np.int64]


#: One report resolves examples several times (verdicts, traces, impact): the first pass over a
#: file keeps its id hashes (8 bytes an id), so later calls read only the blocks that hold
#: a wanted id.
_INDEX: dict[Path, _FileIndex] = {}
_INDEXED_FILES: Final = 8


def resolve_request_ids(run_dir: Path, hashes: Iterable[int]) -> dict[int, str]:
    """hash → request id string for each of ``hashes`` found in ``requests*.jsonl``."""
    wanted = {int(h) for h in hashes if int(h) != 0}
    found: dict[int, str] = {}
    if not wanted:
        return found
    targets = np.fromiter(wanted, dtype=np.uint64, count=len(wanted))
    for path in sorted(Path(run_dir).glob("requests*.jsonl")):
        loaded = blocks_of(path)
        if loaded is not None:
            # The loader knows which blocks hold these rows: read only those.
            for data in read_blocks_holding(path, loaded, targets):
                _match(_ID.findall(data), targets, found)
            if len(found) == len(wanted):
                break
            continue
        stat = path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns)
        index = _INDEX.get(path.resolve())
        if index is not None and index.stamp == stamp:
            _from_index(path, index, targets, found)
        else:
            _index_file(path, stamp, targets, found)
        if len(found) == len(wanted):
            break
    return found


def _index_file(
    path: Path, stamp: tuple[int, int], targets: npt.NDArray[np.uint64], found: dict[int, str]
) -> None:
    """One pass over ``path``: resolve ``targets`` and keep the file's index for next time."""
    parts: list[npt.NDArray[np.uint64]] = []
    offsets: list[int] = []
    lengths: list[int] = []
    firsts: list[int] = []
    count = 0
    offset = 0
    with path.open("rb") as handle:
        carry = b""
        while True:
            block = handle.read(_BLOCK)
            data = carry + block if carry else block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            # One regex pass over a block finds its ids at native speed; hashing them is one
            # vectorised call.
            hashed = _match(_ID.findall(data, 0, cut), targets, found)
            offsets.append(offset)
            lengths.append(cut)
            firsts.append(count)
            parts.append(hashed)
            count += hashed.size
            offset += cut
            if not block:
                break
            carry = data[cut:]
    if len(_INDEX) >= _INDEXED_FILES:
        _INDEX.clear()
    _INDEX[path.resolve()] = _FileIndex(
        stamp=stamp,
        hashes=np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64),
        block_offset=np.array(offsets, dtype=np.int64),
        block_length=np.array(lengths, dtype=np.int64),
        block_first=np.array(firsts, dtype=np.int64),
    )


def _from_index(
    path: Path, index: _FileIndex, targets: npt.NDArray[np.uint64], found: dict[int, str]
) -> None:
    positions = np.flatnonzero(np.isin(index.hashes, targets))
    blocks = np.unique(np.searchsorted(index.block_first, positions, side="right") - 1)
    with path.open("rb") as handle:
        for block in blocks.tolist():
            handle.seek(int(index.block_offset[block]))
            data = handle.read(int(index.block_length[block]))
            _match(_ID.findall(data), targets, found)


def _match(
    batch: list[bytes], targets: npt.NDArray[np.uint64], found: dict[int, str]
) -> npt.NDArray[np.uint64]:
    """Record the ids of ``batch`` whose hash is a target; the hashes of the whole batch."""
    if not batch:
        return np.zeros(0, dtype=np.uint64)
    try:
        # Decoded and hashed natively: the same hash as hash_ids gives the decoded strings.
        hashed = hash_strings(pl.Series(batch, dtype=pl.Binary).cast(pl.String))
    except pl.exceptions.PolarsError:  # not UTF-8: decode in Python, as before
        hashed = hash_ids(np.array([b.decode("utf-8", errors="replace") for b in batch], object))
    for index in np.flatnonzero(np.isin(hashed, targets)):
        found.setdefault(int(hashed[index]), batch[index].decode("utf-8", errors="replace"))
    return hashed
