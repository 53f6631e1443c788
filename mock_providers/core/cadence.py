"""Shared wake-ups for stream cadence: one event-loop timer per millisecond, not per frame.

A thousand streams at 50 ms wake 20,000 times a second. `asyncio.sleep` gives each wake-up
its own loop timer (under uvloop a libuv timer handle, started, fired and closed), which is
a large share of a frame's cost. Streams due in the same millisecond (libuv's timer
resolution anyway) share one timer here; each still waits on its own future, so cancelling
one stream never disturbs the others.
"""

from __future__ import annotations

import asyncio
import weakref


class Wakeups:
    """Futures that complete at (the millisecond nearest) a given loop time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def at(self, when: float) -> asyncio.Future[None]:
        """A future done at loop time `when` (rounded to the millisecond)."""
        slot = round(when * 1000.0)
        waiters = self._slots.get(slot)
        if waiters is None:
            waiters = self._slots[slot] = []
            self._loop.call_at(slot / 1000.0, self._fire, slot)
        future: asyncio.Future[None] = self._loop.create_future()
        waiters.append(future)
        return future

    def _fire(self, slot: int) -> None:
        for future in self._slots.pop(slot):
            if not future.done():  # a cancelled stream's future stays cancelled
                future.set_result(None)


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Wakeups] = (
    weakref.WeakKeyDictionary()
)


def wakeups() -> Wakeups:
    """The running loop's shared wake-ups (each mock server thread has its own loop)."""
    loop = asyncio.get_running_loop()
    found = _BY_LOOP.get(loop)
    if found is None:
        found = _BY_LOOP[loop] = Wakeups(loop)
    return found
