"""Turning the 64-bit request-id hashes analysis works on back into the ids users can look up.

Frames keep request ids only as hashes (``loading.hash_ids``), which is what keeps a
million-request run within memory; the few ids a verdict shows as examples are recovered by one
streaming pass over the request files that decodes only the ``request_id`` field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np

from harness.analysis.loading import hash_ids

__all__ = ["resolve_request_ids"]

_ID: Final = re.compile(rb'"request_id"\s*:\s*"([^"\\]*)"')
_BATCH: Final = 20_000


def resolve_request_ids(run_dir: Path, hashes: Iterable[int]) -> dict[int, str]:
    """hash → request id string for each of ``hashes`` found in ``requests*.jsonl``."""
    wanted = {int(h) for h in hashes if int(h) != 0}
    found: dict[int, str] = {}
    if not wanted:
        return found
    for path in sorted(Path(run_dir).glob("requests*.jsonl")):
        with path.open("rb") as handle:
            batch: list[str] = []
            for line in handle:
                match = _ID.search(line)
                if match is not None:
                    batch.append(match.group(1).decode("utf-8", errors="replace"))
                if len(batch) >= _BATCH:
                    _match(batch, wanted, found)
                    batch = []
                    if len(found) == len(wanted):
                        return found
            _match(batch, wanted, found)
    return found


def _match(batch: list[str], wanted: set[int], found: dict[int, str]) -> None:
    if not batch:
        return
    hashed = hash_ids(np.array(batch, dtype=object))
    hits = np.isin(hashed, np.fromiter(wanted, dtype=np.uint64, count=len(wanted)))
    for index in np.flatnonzero(hits):
        found[int(hashed[index])] = batch[index]
