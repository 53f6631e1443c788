"""Turning the 64-bit request-id hashes analysis works on back into the ids users can look up.

Frames keep request ids only as hashes (``loading.hash_ids``), which is what keeps a
million-request run within memory; the few ids a verdict shows as examples are recovered by one
streaming pass over the request files, a regex over big blocks that picks out only the
``request_id`` field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from harness.analysis.fast_read import hash_strings
from harness.analysis.loading import hash_ids

__all__ = ["resolve_request_ids"]

_ID: Final = re.compile(rb'"request_id"\s*:\s*"([^"\\]*)"')
_BLOCK: Final = 16 << 20


def resolve_request_ids(run_dir: Path, hashes: Iterable[int]) -> dict[int, str]:
    """hash → request id string for each of ``hashes`` found in ``requests*.jsonl``."""
    wanted = {int(h) for h in hashes if int(h) != 0}
    found: dict[int, str] = {}
    if not wanted:
        return found
    targets = np.fromiter(wanted, dtype=np.uint64, count=len(wanted))
    for path in sorted(Path(run_dir).glob("requests*.jsonl")):
        with path.open("rb") as handle:
            carry = b""
            while True:
                block = handle.read(_BLOCK)
                data = carry + block if carry else block
                cut = len(data) if not block else data.rfind(b"\n") + 1
                # One regex pass over a block finds its ids at native speed; hashing them is
                # one vectorised call.
                _match(_ID.findall(data, 0, cut), targets, found)
                if len(found) == len(wanted) or not block:
                    break
                carry = data[cut:]
        if len(found) == len(wanted):
            break
    return found


def _match(batch: list[bytes], targets: npt.NDArray[np.uint64], found: dict[int, str]) -> None:
    if not batch:
        return
    try:
        # Decoded and hashed natively: the same hash as hash_ids gives the decoded strings.
        hashed = hash_strings(pl.Series(batch, dtype=pl.Binary).cast(pl.String))
    except pl.exceptions.PolarsError:  # not UTF-8: decode in Python, as before
        hashed = hash_ids(np.array([b.decode("utf-8", errors="replace") for b in batch], object))
    for index in np.flatnonzero(np.isin(hashed, targets)):
        found.setdefault(int(hashed[index]), batch[index].decode("utf-8", errors="replace"))
