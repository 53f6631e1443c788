"""The capacity queue, token buckets and per-key account limits over ``SharedState``.

Each class keeps the interface of its one-process original (``Limiter``, ``TokenBucket``,
``AccountLimits``), so the call path is the same with one worker or many; only where the state
lives changes. See ``core.shared`` for why a lock over shared memory.

The queue across processes is a ring of tickets: a call that must wait takes the next ticket
(FIFO order is ticket order, whichever worker took it); a released slot is granted, under the
lock, to the oldest waiting ticket; each worker's pump notices its granted tickets (at once when
the release happened in the same worker, else within a millisecond) and wakes their callers.
"""

from __future__ import annotations

import asyncio

from mock_providers.core import shared as layout
from mock_providers.core.capacity import CapacitySpec, Limiter
from mock_providers.core.models import Flavour
from mock_providers.core.ratelimit import (
    DEFAULT_RPM,
    DEFAULT_TPM,
    AccountLimits,
    KeyBuckets,
    Refusal,
    TokenBucket,
)
from mock_providers.core.shared import CANCELLED, FREE, GRANTED, WAITING, SharedState

__all__ = ["SharedAccount", "SharedBucket", "SharedLimiter"]

#: How often a worker with waiting callers looks for slots granted by another worker.
PUMP_INTERVAL_S = 0.001


class SharedBucket(TokenBucket):
    """A ``TokenBucket`` whose level lives in shared memory (every operation under the lock)."""

    def __init__(self, limit: float, state: SharedState, offset: int) -> None:
        # Not TokenBucket.__init__: that would refill the shared bucket on every construction.
        self.limit = limit
        self._state = state
        self._offset = offset

    @property
    def level(self) -> float:
        return self._state.get_f(self._offset)

    @level.setter
    def level(self, value: float) -> None:
        self._state.set_f(self._offset, value)

    @property
    def updated(self) -> float:
        return self._state.get_f(self._offset + 8)

    @updated.setter
    def updated(self, value: float) -> None:
        self._state.set_f(self._offset + 8, value)

    def take(self, amount: float, now: float | None = None) -> float:
        with self._state.lock:
            return super().take(amount, now)

    def remaining(self, now: float | None = None) -> int:
        with self._state.lock:
            return super().remaining(now)

    def reset_s(self, now: float | None = None) -> float:
        with self._state.lock:
            return super().reset_s(now)


class SharedAccount(AccountLimits):
    """Enforced per-key ``rpm``/``tpm`` buckets shared by every worker (the reported,
    never-enforced account buckets stay per worker)."""

    def __init__(self, state: SharedState) -> None:
        super().__init__()
        self._state = state

    def buckets(self, key: bytes) -> KeyBuckets:
        limits = (float(self.rpm or DEFAULT_RPM), float(self.tpm or DEFAULT_TPM))
        with self._state.lock:
            offset = self._state.key_slot(key, self.rpm, self.tpm, limits)
        return KeyBuckets(
            SharedBucket(limits[0], self._state, offset),
            SharedBucket(limits[1], self._state, offset + 16),
        )

    def charge(self, key: bytes, tokens: int) -> Refusal | None:
        with self._state.lock:  # take-then-refund of the two buckets is one step
            return super().charge(key, tokens)


class SharedLimiter(Limiter):
    """``max_concurrency`` and ``queue`` across every worker of one mock."""

    def __init__(self, spec: CapacitySpec, flavour: Flavour, state: SharedState) -> None:
        self._state = state
        self._local: dict[int, asyncio.Future[None]] = {}
        self._pump: asyncio.Task[None] | None = None
        self._ticket: int | None = None
        super().__init__(spec, flavour)
        self.configure(spec)

    # The counters the metrics read are the shared ones.
    @property
    def in_flight(self) -> int:
        return self._state.get_i(layout.SERVING)

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        pass  # Limiter.__init__ zeroes it; the shared count is only changed under the lock

    @property
    def rejected(self) -> int:
        return self._state.get_u(layout.REJECTED)

    @rejected.setter
    def rejected(self, value: int) -> None:
        pass

    @property
    def admitted(self) -> int:
        return self._state.get_u(layout.ADMITTED)

    @admitted.setter
    def admitted(self, value: int) -> None:
        pass

    @property
    def queue_wait_s_total(self) -> float:
        return self._state.get_f(layout.QUEUE_WAIT)

    @queue_wait_s_total.setter
    def queue_wait_s_total(self, value: float) -> None:
        pass

    def add_queue_wait(self, seconds: float) -> None:
        s = self._state
        with s.lock:
            s.set_f(layout.QUEUE_WAIT, s.get_f(layout.QUEUE_WAIT) + seconds)

    @property
    def queue_depth(self) -> int:
        return self._state.get_i(layout.QUEUED)

    def configure(self, spec: CapacitySpec) -> None:
        self.spec = spec
        s = self._state
        with s.lock:
            limit = spec.max_concurrency
            s.set_i(layout.LIMIT, -1 if limit is None else limit)
            s.set_i(layout.QUEUE_LIMIT, -1 if spec.queue is None else spec.queue)
            self._grant()
        self._collect()

    def try_admit(self) -> bool | None:
        s = self._state
        with s.lock:
            limit = s.get_i(layout.LIMIT)
            serving = s.get_i(layout.SERVING)
            queued = s.get_i(layout.QUEUED)
            if limit < 0 or (serving < limit and queued == 0):
                s.set_i(layout.SERVING, serving + 1)
                s.set_u(layout.ADMITTED, s.get_u(layout.ADMITTED) + 1)
                return True
            queue_limit = s.get_i(layout.QUEUE_LIMIT)
            head, tail = s.get_u(layout.HEAD), s.get_u(layout.TAIL)
            full = queue_limit >= 0 and queued >= queue_limit
            if full or tail - head >= layout.TICKET_RING:
                s.set_u(layout.REJECTED, s.get_u(layout.REJECTED) + 1)
                return False
            s.set_ticket_state(tail, WAITING)
            s.set_u(layout.TAIL, tail + 1)
            s.set_i(layout.QUEUED, queued + 1)
            self._ticket = tail  # `wait` runs next, with no await in between
            return None

    async def wait(self, gone: asyncio.Event) -> bool:
        ticket = self._ticket
        assert ticket is not None, "wait() without try_admit() returning None"
        self._ticket = None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._local[ticket] = future
        if self._pump is None or self._pump.done():
            self._pump = asyncio.ensure_future(self._pump_loop())
        self._collect()
        watcher = asyncio.ensure_future(gone.wait())
        try:
            if not future.done() and not gone.is_set():
                await asyncio.wait((future, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if future.done() and not future.cancelled():
            s = self._state
            with s.lock:
                s.set_u(layout.ADMITTED, s.get_u(layout.ADMITTED) + 1)
            return True
        self._abandon(ticket)
        return False

    def _abandon(self, ticket: int) -> None:
        """The caller left while waiting: give up its ticket (or the slot granted meanwhile)."""
        self._local.pop(ticket, None)
        s = self._state
        with s.lock:
            state = s.ticket_state(ticket)
            if state == WAITING:
                s.set_ticket_state(ticket, CANCELLED)
                s.set_i(layout.QUEUED, s.get_i(layout.QUEUED) - 1)
            elif state == GRANTED:
                s.set_ticket_state(ticket, FREE)
                s.set_i(layout.SERVING, s.get_i(layout.SERVING) - 1)
                self._grant()

    def release(self) -> None:
        s = self._state
        with s.lock:
            s.set_i(layout.SERVING, s.get_i(layout.SERVING) - 1)
            self._grant()
        self._collect()

    def _grant(self) -> None:
        """Hand free slots to the oldest waiting tickets (lock held)."""
        s = self._state
        limit = s.get_i(layout.LIMIT)
        serving = s.get_i(layout.SERVING)
        queued = s.get_i(layout.QUEUED)
        head, tail = s.get_u(layout.HEAD), s.get_u(layout.TAIL)
        while queued > 0 and head < tail and (limit < 0 or serving < limit):
            state = s.ticket_state(head)
            if state == WAITING:
                s.set_ticket_state(head, GRANTED)
                serving += 1
                queued -= 1
            elif state == CANCELLED:
                s.set_ticket_state(head, FREE)
            head += 1
        s.set_u(layout.HEAD, head)
        s.set_i(layout.SERVING, serving)
        s.set_i(layout.QUEUED, queued)

    def _collect(self) -> None:
        """Wake this worker's callers whose tickets were granted."""
        if not self._local:
            return
        s = self._state
        woken = []
        with s.lock:
            for ticket in self._local:
                if s.ticket_state(ticket) == GRANTED:
                    s.set_ticket_state(ticket, FREE)
                    woken.append(ticket)
        for ticket in woken:
            future = self._local.pop(ticket)
            if not future.done():
                future.set_result(None)
            else:  # cancelled meanwhile: the slot it was given goes back
                self.release()

    async def _pump_loop(self) -> None:
        while self._local:
            await asyncio.sleep(PUMP_INTERVAL_S)
            self._collect()
