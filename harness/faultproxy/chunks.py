"""Chunks and the bounded channels that carry them between the toxic stages of a link.

Toxiproxy moves data as *chunks* (one socket read each, time-stamped) through a chain of
goroutines joined by small channels; a full channel is what pushes back on the sender. This is
the asyncio equivalent. A channel can be *retired* when its stage is rewired away: its items are
taken over by the new chain and anyone waiting for room is woken so they re-route.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

__all__ = ["Channel", "Chunk"]


@dataclass(slots=True)
class Chunk:
    """One read's worth of bytes (``eof`` marks the end of the source)."""

    data: bytes
    ts: float
    """``time.monotonic()`` when the chunk was read or entered its current stage: latency
    counts from here."""
    eof: bool = False


class Channel:
    """A bounded FIFO between two stages; single consumer, any number of producers."""

    __slots__ = ("_readable", "_writable", "capacity", "items", "retired")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: deque[Chunk] = deque()
        self.retired = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    def has_room(self) -> bool:
        return not self.retired and len(self.items) < self.capacity

    def push(self, chunk: Chunk) -> None:
        """Append without waiting (callers check :meth:`has_room` first, or are rewiring)."""
        self.items.append(chunk)
        _wake(self._readable)

    async def wait_room(self) -> None:
        """Return once there is room or the channel was retired (the caller re-routes)."""
        while not self.retired and len(self.items) >= self.capacity:
            if self._writable is None or self._writable.done():
                self._writable = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._writable)

    async def take(self) -> Chunk:
        """Pop the oldest chunk, waiting for one. The pop happens in the same step as the
        return, so a cancelled taker never loses a chunk."""
        while not self.items:
            if self._readable is None or self._readable.done():
                self._readable = asyncio.get_running_loop().create_future()
            # Awaited directly (no shield): a channel has one taker, and a cancelled taker
            # only cancels this future, which the next take() replaces.
            await self._readable
        chunk = self.items.popleft()
        _wake(self._writable)
        return chunk

    def retire(self) -> list[Chunk]:
        """Stop accepting chunks, wake waiting producers and hand over what was queued."""
        self.retired = True
        items = list(self.items)
        self.items.clear()
        _wake(self._writable)
        return items


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
