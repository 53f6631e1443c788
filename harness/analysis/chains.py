"""One shared order of the provider calls: by request id, then fingerprint, then arrival.

Both "was this call a repeat of one its request already made" (metrics) and the resilience
verdicts (chains of attempts and retries) need the calls of each request's identical calls next
to each other in arrival order. Sorting 3 M calls is the dearest step of either, so it is done
once here, in ``prepare_run``, and shared.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["chain_order", "repeats"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
U64Array = npt.NDArray[np.uint64]
FloatArray = npt.NDArray[np.float64]


def chain_order(ids: U64Array, fingerprints: U64Array, t: FloatArray) -> IntArray:
    """Rows with an id (``ids != 0``) sorted by (id, fingerprint, arrival); ties keep file
    order and a call without an arrival time sorts last, as a stable sort by arrival does."""
    rows = np.flatnonzero(ids != 0)
    ordered = rows[np.lexsort((t[rows], fingerprints[rows], ids[rows]))]
    return np.asarray(ordered, dtype=np.int64)


def repeats(order: IntArray, ids: U64Array, fingerprints: U64Array) -> BoolArray:
    """Per row of ``order``: the row before it has the same id and fingerprint (a repeat)."""
    rid, fp = ids[order], fingerprints[order]
    same = np.zeros(order.size, dtype=bool)
    same[1:] = (rid[1:] == rid[:-1]) & (fp[1:] == fp[:-1])
    return same
