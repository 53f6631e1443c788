"""Where each loaded row sits in its file, so a later lookup reads a few blocks, not the file.

A report shows a handful of example requests and their traces; finding them used to mean
reading every request and call file again (1.35 GB at a million requests) for a few ids. The
loader reads each file in blocks anyway, so it records, per file, each block's byte range and
first row, and the id hashes of the rows (a view of the loaded column, no copy). A lookup by id
hash then knows which blocks hold the rows and reads only those. An entry is used only while
the file's size and modification time are those it had when read; else callers scan as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["FileBlocks", "blocks_of", "read_blocks_holding", "remember", "stamp_of"]

#: A run's request and call files; an older entry is dropped when a process reads more runs.
_REMEMBERED_FILES: Final = 8


@dataclass(frozen=True)
class FileBlocks:
    """The blocks one file was read in and the id hash of each row it gave."""

    #: (size, mtime_ns) of the file before it was read
    stamp: tuple[int, int]
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    #: index of each block's first row among the file's rows
    first_rows: npt.NDArray[np.int64]
    #: the id hash of every row of the file, in file order (0: none)
    hashes: npt.NDArray[np.uint64]


_FILES: dict[Path, FileBlocks] = {}


def stamp_of(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


def remember(path: Path, blocks: FileBlocks) -> None:
    if len(_FILES) >= _REMEMBERED_FILES:
        _FILES.clear()
    _FILES[path.resolve()] = blocks


def blocks_of(path: Path) -> FileBlocks | None:
    """The blocks ``path`` was loaded in, if it has not changed since."""
    blocks = _FILES.get(path.resolve())
    if blocks is None:
        return None
    try:
        if stamp_of(path) != blocks.stamp:
            return None
    except OSError:
        return None
    return blocks


def read_blocks_holding(
    path: Path, blocks: FileBlocks, targets: npt.NDArray[np.uint64]
) -> list[bytes]:
    """The bytes of every block of ``path`` holding a row whose id hash is in ``targets``."""
    rows = np.flatnonzero(np.isin(blocks.hashes, targets))
    if rows.size == 0:
        return []
    wanted = np.unique(np.searchsorted(blocks.first_rows, rows, side="right") - 1)
    out = []
    with path.open("rb") as handle:
        for block in wanted.tolist():
            handle.seek(int(blocks.offsets[block]))
            out.append(handle.read(int(blocks.lengths[block])))
    return out
