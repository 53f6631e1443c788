"""State shared by the worker processes of one mock (``--workers N``).

Several processes serve one port (``SO_REUSEPORT``: the kernel spreads connections over them),
but they are one provider: a fault set through any of them is active in all, ``first: 3`` means
the first three calls the provider received, an ``rpm`` of K admits K calls a minute whichever
process took them, and ``max_concurrency`` C is C calls in service across all processes, the
rest waiting in one FIFO queue.

Mechanism: one anonymous shared memory map (``mmap``, created before the workers are forked, so
every worker maps the same pages) and one process-shared re-entrant lock (a POSIX semaphore from
``multiprocessing``). Why not a coordinator process: every limited call would pay a round trip
to it and it would be one more single core that every call goes through, the very bottleneck
``--workers`` removes; here an admission is a lock and a few loads and stores (about a
microsecond). Why not shared memory without a lock: a token bucket's refill-then-take and a
queue's check-then-enqueue must be atomic, and Python has no cross-process atomics. The lock is
taken only where workers must agree (fault counters, buckets, the capacity queue, fault-set
changes, and the count of calls in flight that the journal records); per-call statistics stay
in each process and are published to a per-worker slot ten
times a second, so ``/_brownout/stats`` and ``/_brownout/metrics`` from any worker add them up.

A worker that dies takes the whole mock down (``mock_providers.workers``), so a lock held by a
dead process never blocks the others.
"""

from __future__ import annotations

import hashlib
import mmap
import multiprocessing
import struct
import time
from typing import Any, Final

import orjson

__all__ = ["MAX_WORKERS", "SharedState", "counter_draw"]

MAX_WORKERS: Final = 64
MAX_FAULT_SLOTS: Final = 256
#: Waiting tickets the capacity queue can hold across workers (more: the overload answer).
TICKET_RING: Final = 1 << 16
#: API keys with enforced buckets tracked at once (then the table starts over, as in one process).
KEY_SLOTS: Final = 4096

# Header fields: (offset, format).
_GENERATION = 0  # u64: bumped on every fault-set change
_SERVING = 8  # i64: calls holding a capacity slot, all workers
_QUEUED = 16  # i64: tickets waiting
_HEAD = 24  # u64: next ticket to consider for a slot
_TAIL = 32  # u64: next ticket to hand out
_REJECTED = 40  # u64
_ADMITTED = 48  # u64
_QUEUE_WAIT = 56  # f64: seconds waited for a slot, total
_LIMIT = 64  # i64: max_concurrency (-1: unlimited)
_QUEUE_LIMIT = 72  # i64: queue (-1: unbounded)
_ACCOUNT = 80  # i64, i64: enforced rpm, tpm (-1: none), the config the key table was made for
_BLOB_LEN = 96  # u32: length of the fault-set JSON
_IN_FLIGHT = 104  # i64: calls being served, all workers (the journal's `in_flight`)
_HEADER = 4096

_BLOB = _HEADER
_BLOB_SIZE = 256 * 1024
_FAULT_SLOTS = _BLOB + _BLOB_SIZE
_FAULT_SLOT_SIZE = 64  # seen u64, then two buckets of (level f64, updated f64)
_WORKERS = _FAULT_SLOTS + MAX_FAULT_SLOTS * _FAULT_SLOT_SIZE
_WORKER_SIZE = 16 * 1024  # pid u64, lag f64, len u32, stats JSON
_TICKETS = _WORKERS + MAX_WORKERS * _WORKER_SIZE
_KEYS = _TICKETS + TICKET_RING
_KEY_SIZE = 48  # key hash u64, requests (level, updated), tokens (level, updated)
_SIZE = _KEYS + KEY_SLOTS * _KEY_SIZE

_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")

# Ticket states.
FREE, WAITING, GRANTED, CANCELLED = 0, 1, 2, 3


def counter_draw(seed: int, name: str, n: int) -> float:
    """The n-th seeded draw of a fault, the same in every worker: [0, 1) from a hash.

    One process draws from its fault's own ``random.Random``; across processes the n-th call
    may land in any of them, so the draw is a function of (seed, fault, n) instead."""
    digest = hashlib.blake2b(f"{seed}:{name}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


class SharedState:
    """The shared pages and their lock; every method that changes them takes the lock."""

    def __init__(self, workers: int) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be 1..{MAX_WORKERS}, got {workers}")
        self.workers = workers
        self.buf = mmap.mmap(-1, _SIZE)  # anonymous and MAP_SHARED: forked workers see it
        self.lock = multiprocessing.get_context("fork").RLock()
        self.set_i(_LIMIT, -1)
        self.set_i(_QUEUE_LIMIT, -1)
        self.set_i(_ACCOUNT, -2)  # no config yet
        self.set_i(_ACCOUNT + 8, -2)

    # -- raw fields -----------------------------------------------------------------------

    def get_u(self, offset: int) -> int:
        value: int = _U64.unpack_from(self.buf, offset)[0]
        return value

    def set_u(self, offset: int, value: int) -> None:
        _U64.pack_into(self.buf, offset, value)

    def get_i(self, offset: int) -> int:
        value: int = _I64.unpack_from(self.buf, offset)[0]
        return value

    def set_i(self, offset: int, value: int) -> None:
        _I64.pack_into(self.buf, offset, value)

    def get_f(self, offset: int) -> float:
        value: float = _F64.unpack_from(self.buf, offset)[0]
        return value

    def set_f(self, offset: int, value: float) -> None:
        _F64.pack_into(self.buf, offset, value)

    def add_in_flight(self, delta: int) -> int:
        """Count a call in (+1) or out (-1) of service across all workers; the new count."""
        with self.lock:
            value = self.get_i(_IN_FLIGHT) + delta
            self.set_i(_IN_FLIGHT, value)
        return value

    # -- the fault set ----------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self.get_u(_GENERATION)

    def faults(self) -> tuple[int, list[dict[str, Any]]]:
        """(generation, entries): each ``{"spec", "given", "slot", "applied_at"}``."""
        with self.lock:
            generation = self.get_u(_GENERATION)
            size = _U32.unpack_from(self.buf, _BLOB_LEN)[0]
            raw = bytes(self.buf[_BLOB : _BLOB + size]) if size else b"[]"
        entries: list[dict[str, Any]] = orjson.loads(raw)
        return generation, entries

    def put_fault(self, spec: dict[str, Any], given: list[str], limits: list[float]) -> None:
        """Add (or replace by name) a fault; its counters and buckets start fresh."""
        with self.lock:
            _, entries = self.faults()
            entries = [e for e in entries if e["spec"]["name"] != spec["name"]]
            used = {e["slot"] for e in entries}
            slot = next((i for i in range(MAX_FAULT_SLOTS) if i not in used), None)
            if slot is None:
                raise ValueError(f"at most {MAX_FAULT_SLOTS} faults at once")
            now = time.monotonic()
            base = _FAULT_SLOTS + slot * _FAULT_SLOT_SIZE
            self.set_u(base, 0)
            for i, limit in enumerate(limits[:2]):  # the fault's own buckets, in its order
                self.set_f(base + 8 + 16 * i, limit)
                self.set_f(base + 16 + 16 * i, now)
            entries.append({"spec": spec, "given": given, "slot": slot, "applied_at": now})
            self._write_faults(entries)

    def remove_fault(self, name: str) -> bool:
        with self.lock:
            _, entries = self.faults()
            kept = [e for e in entries if e["spec"]["name"] != name]
            if len(kept) == len(entries):
                return False
            self._write_faults(kept)
            return True

    def clear_faults(self) -> None:
        with self.lock:
            self._write_faults([])

    def _write_faults(self, entries: list[dict[str, Any]]) -> None:
        blob = orjson.dumps(entries)
        if len(blob) > _BLOB_SIZE:
            raise ValueError("the fault set is too large to share between workers")
        self.buf[_BLOB : _BLOB + len(blob)] = blob
        _U32.pack_into(self.buf, _BLOB_LEN, len(blob))
        self.set_u(_GENERATION, self.get_u(_GENERATION) + 1)

    def next_seen(self, slot: int) -> int:
        """Count one matching call of the fault in ``slot``; its number, from 1."""
        offset = _FAULT_SLOTS + slot * _FAULT_SLOT_SIZE
        with self.lock:
            n = self.get_u(offset) + 1
            self.set_u(offset, n)
        return n

    def fault_bucket_offset(self, slot: int, index: int) -> int:
        return _FAULT_SLOTS + slot * _FAULT_SLOT_SIZE + 8 + 16 * index

    # -- per-worker publication -------------------------------------------------------------

    def publish(self, worker: int, pid: int, lag_s: float, stats: dict[str, Any]) -> None:
        blob = orjson.dumps(stats)[: _WORKER_SIZE - 20]
        base = _WORKERS + worker * _WORKER_SIZE
        with self.lock:
            self.set_u(base, pid)
            self.set_f(base + 8, lag_s)
            _U32.pack_into(self.buf, base + 16, len(blob))
            self.buf[base + 20 : base + 20 + len(blob)] = blob

    def published(self) -> list[tuple[int, float, dict[str, Any]]]:
        """(pid, loop lag, stats) of every worker that has published."""
        out = []
        with self.lock:
            for worker in range(self.workers):
                base = _WORKERS + worker * _WORKER_SIZE
                pid = self.get_u(base)
                if not pid:
                    continue
                size = _U32.unpack_from(self.buf, base + 16)[0]
                raw = bytes(self.buf[base + 20 : base + 20 + size])
                out.append((pid, self.get_f(base + 8), orjson.loads(raw) if raw else {}))
        return out

    # -- the capacity queue (see core.shared_capacity) ----------------------------------------

    def ticket_state(self, ticket: int) -> int:
        return self.buf[_TICKETS + ticket % TICKET_RING]

    def set_ticket_state(self, ticket: int, state: int) -> None:
        self.buf[_TICKETS + ticket % TICKET_RING] = state

    # -- enforced per-key buckets (see core.shared_ratelimit) ----------------------------------

    def key_slot(
        self, key: bytes, rpm: int | None, tpm: int | None, limits: tuple[float, float]
    ) -> int:
        """The offset of ``key``'s two buckets (made full, at ``limits``, if new); a config
        change (rpm, tpm) clears the table once, whichever worker notices first. Call with the
        lock held."""
        config = (-1 if rpm is None else rpm, -1 if tpm is None else tpm)
        if (self.get_i(_ACCOUNT), self.get_i(_ACCOUNT + 8)) != config:
            self.buf[_KEYS:_SIZE] = bytes(_SIZE - _KEYS)
            self.set_i(_ACCOUNT, config[0])
            self.set_i(_ACCOUNT + 8, config[1])
        digest = hashlib.blake2b(key, digest_size=8).digest()
        tag = int.from_bytes(digest, "little") | 1  # never 0: 0 marks a free slot
        start = tag % KEY_SLOTS
        for probe in range(KEY_SLOTS):
            base = _KEYS + ((start + probe) % KEY_SLOTS) * _KEY_SIZE
            found = self.get_u(base)
            if found == tag:
                return base + 8
            if found == 0:
                self.set_u(base, tag)
                now = time.monotonic()
                for i, limit in enumerate(limits):
                    self.set_f(base + 8 + 16 * i, limit)
                    self.set_f(base + 16 + 16 * i, now)
                return base + 8
        # Full: start over, as one process does past MAX_KEYS.
        self.buf[_KEYS:_SIZE] = bytes(_SIZE - _KEYS)
        return self.key_slot(key, rpm, tpm, limits)


# Offsets the capacity queue uses (kept here with the layout).
SERVING, QUEUED, HEAD, TAIL = _SERVING, _QUEUED, _HEAD, _TAIL
REJECTED, ADMITTED, QUEUE_WAIT, LIMIT, QUEUE_LIMIT = (
    _REJECTED,
    _ADMITTED,
    _QUEUE_WAIT,
    _LIMIT,
    _QUEUE_LIMIT,
)
