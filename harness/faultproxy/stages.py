"""What each toxic does to the chunks of one link (one direction of one connection).

Every active toxic on a link runs as one :class:`Stage` task that takes chunks from its inbox,
acts, and hands them to the next stage (or the destination socket). A stage keeps the chunk it
is working on in ``holding`` until it has been handed on, so the link can cancel the task at any
await point and give that chunk to the rewired chain: live toxic changes never lose or duplicate
data and never wait for a stage to co-operate (Toxiproxy's toxic-delete deadlock, issue #159).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Protocol

from harness.faultproxy.chunks import Channel, Chunk
from harness.faultproxy.deadlines import sleep_until
from harness.faultproxy.toxics import Toxic

__all__ = ["Stage", "StageHost", "make_stage"]

log = logging.getLogger(__name__)

_DEFAULT_CAPACITY = 1
#: Toxiproxy's latency toxic buffers 1024 chunks so a stream of writes is pipelined.
_LATENCY_CAPACITY = 1024
#: Bandwidth emits at most ``rate * 100`` bytes per 100 ms slot, as Toxiproxy does.
_BANDWIDTH_SLOT_S = 0.1


class StageHost(Protocol):
    """The link a stage belongs to (see :class:`harness.faultproxy.link.Link`)."""

    counters: dict[str, int]

    @property
    def rng(self) -> random.Random: ...

    async def deliver(self, index: int, chunk: Chunk) -> None: ...

    def close_connection(self, *, reset: bool = False) -> None: ...


class Stage:
    """A pass-through stage (the ``noop`` toxic); subclasses override :meth:`handle`."""

    capacity = _DEFAULT_CAPACITY
    #: Start the task with the first chunk: most stages only react to chunks, and a
    #: connection that never sends through a toxic then costs no task (one connection per
    #: request, with a toxic active, is where that counts).
    lazy = True

    def __init__(self, host: StageHost, toxic: Toxic, index: int) -> None:
        self.host = host
        self.toxic = toxic
        self.revision = toxic.revision
        self.index = index
        self.inbox = Channel(self.capacity)
        self.holding: Chunk | None = None
        self.task: asyncio.Task[None] | None = None
        self.started = False
        """Set by :meth:`start`: chunks pushed before (during a rewire) wait for it."""

    def start(self) -> None:
        self.started = True
        if not self.lazy or self.inbox.items:
            self._start_task()

    def _start_task(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run())

    def push(self, chunk: Chunk) -> None:
        """Queue ``chunk`` (the caller checked for room) and start the task if it has none."""
        self.inbox.push(chunk)
        if self.task is None and self.started:
            self._start_task()

    def passes_through(self) -> bool:
        """Is this stage empty and would it forward a data chunk at once, unchanged?"""
        return self.holding is None and not self.inbox.items and self.forwards_at_once()

    def forwards_at_once(self) -> bool:
        """Does this toxic hand every data chunk on at once, untouched (``noop`` does)?"""
        return type(self) is Stage

    def passes_eof_through(self) -> bool:
        """Is this stage empty and would it hand the end of the stream on at once?

        The link then ends the destination inside the EOF callback instead of starting this
        stage's task for one last hop: with a connection per request that task would be made
        for every connection, although the toxic never held anything back.
        """
        return self.holding is None and not self.inbox.items and self.forwards_eof_at_once()

    def forwards_eof_at_once(self) -> bool:
        """Does this toxic forward the end of the stream unchanged and undelayed?"""
        return type(self) is Stage

    def stop(self) -> list[Chunk]:
        """Cancel the task; return the chunks not yet passed on, oldest first."""
        if self.task is not None:
            self.task.cancel()
        held = [self.holding] if self.holding is not None else []
        self.holding = None
        return held + self.inbox.retire()

    async def run(self) -> None:
        try:
            while True:
                if self.holding is None:
                    self.holding = await self.inbox.take()
                await self.handle(self.holding)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError):
            self.host.close_connection()
        except Exception:  # a toxic bug must cost one connection, never the server
            log.exception("toxic %s failed; closing its connection", self.toxic.name)
            self.host.close_connection()

    async def forward(self, chunk: Chunk) -> None:
        await self.host.deliver(self.index + 1, chunk)
        self.holding = None

    async def handle(self, chunk: Chunk) -> None:
        await self.forward(chunk)


class LatencyStage(Stage):
    capacity = _LATENCY_CAPACITY

    def forwards_eof_at_once(self) -> bool:
        return True  # only data waits; the end follows what the chain holds, at once

    def forwards_at_once(self) -> bool:
        # 0 ms (or less) without jitter: the deadline is the arrival, no draw is skipped.
        return self.toxic.attribute("latency") <= 0 and self.toxic.attribute("jitter") <= 0

    async def handle(self, chunk: Chunk) -> None:
        if not chunk.eof:
            latency = self.toxic.attribute("latency")
            jitter = self.toxic.attribute("jitter")
            delay_ms = latency + (self.host.rng.randrange(-jitter, jitter) if jitter > 0 else 0)
            await sleep_until(chunk.ts + delay_ms / 1000)
        await self.forward(chunk)


class BandwidthStage(Stage):
    def forwards_eof_at_once(self) -> bool:
        return True  # the end costs no bandwidth, whatever the rate

    def __init__(self, host: StageHost, toxic: Toxic, index: int) -> None:
        super().__init__(host, toxic, index)
        self._next_free = 0.0

    async def handle(self, chunk: Chunk) -> None:
        rate = self.toxic.attribute("rate")
        if chunk.eof:
            await self.forward(chunk)
            return
        if rate <= 0:
            # rate 0 stalls the link until the toxic changes, like Toxiproxy (people use it
            # as a "cut" switch); negative rates do the same instead of crashing the server.
            await asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        slot = max(1, int(rate * 1000 * _BANDWIDTH_SLOT_S))  # rate is in KB/s, KB = 1000 B
        data = chunk.data
        while data:
            piece, rest = data[:slot], data[slot:]
            self._next_free = max(self._next_free, loop.time()) + len(piece) / (rate * 1000)
            wait = self._next_free - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.host.deliver(self.index + 1, Chunk(piece, chunk.ts))
            data = rest
            self.holding = Chunk(rest, chunk.ts) if rest else None


class SlowCloseStage(Stage):
    def forwards_at_once(self) -> bool:
        return True  # only the end of the stream waits

    async def handle(self, chunk: Chunk) -> None:
        if chunk.eof:
            await asyncio.sleep(max(0, self.toxic.attribute("delay")) / 1000)
        await self.forward(chunk)


class TimeoutStage(Stage):
    """Black hole: drops every chunk; closes after ``timeout`` ms without any chunk."""

    lazy = False  # its timer runs from the start, data or not

    async def run(self) -> None:
        timeout_ms = self.toxic.attribute("timeout")
        try:
            while True:
                if self.holding is not None:
                    if self.holding.eof:
                        await self.forward(self.holding)
                        return
                    self.holding = None  # dropped
                if timeout_ms > 0:
                    try:
                        async with asyncio.timeout(timeout_ms / 1000):
                            self.holding = await self.inbox.take()
                    except TimeoutError:
                        self.host.close_connection()
                        return
                else:
                    self.holding = await self.inbox.take()
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError):
            self.host.close_connection()


class ResetPeerStage(Stage):
    """On the first chunk (or EOF): drop it, wait ``timeout`` ms, then reset the connection."""

    async def handle(self, chunk: Chunk) -> None:
        self.holding = None
        await asyncio.sleep(max(0, self.toxic.attribute("timeout")) / 1000)
        self.host.close_connection(reset=True)
        await asyncio.get_running_loop().create_future()


class SlicerStage(Stage):
    def forwards_eof_at_once(self) -> bool:
        return True

    async def handle(self, chunk: Chunk) -> None:
        average = self.toxic.attribute("average_size")
        variation = max(0, self.toxic.attribute("size_variation"))
        delay_s = max(0, self.toxic.attribute("delay")) / 1_000_000
        if chunk.eof or average <= 0:
            # average_size <= 0 recurses forever in Toxiproxy; here it passes data unsliced.
            await self.forward(chunk)
            return
        pieces = _slice(len(chunk.data), average, variation, self.host.rng)
        data = chunk.data
        for size in pieces:
            piece, data = data[:size], data[size:]
            await self.host.deliver(self.index + 1, Chunk(piece, chunk.ts))
            self.holding = Chunk(data, chunk.ts) if data else None
            if delay_s > 0:
                await asyncio.sleep(delay_s)


def _slice(length: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Piece sizes by recursive halving, each split point moved by up to ±variation."""
    sizes: list[int] = []
    stack = [length]
    while stack:
        size = stack.pop()
        if size <= average + variation or size <= 1:
            sizes.append(size)
            continue
        mid = size // 2
        if variation > 0:
            mid += rng.randrange(-variation, variation)
        mid = min(max(mid, 1), size - 1)
        stack.append(size - mid)
        stack.append(mid)
    return sizes


class LimitDataStage(Stage):
    """Pass at most ``bytes`` bytes on this link, then end it (EOF), as Toxiproxy does.

    The byte count lives on the link (``host.counters``) so it survives toxic updates;
    -1 marks a link this toxic already ended.
    """

    async def handle(self, chunk: Chunk) -> None:
        name = self.toxic.name
        sent = self.host.counters.get(name, 0)
        if sent < 0:
            self.holding = None  # the link was ended: drop what still arrives
            return
        if chunk.eof:
            await self.forward(chunk)
            return
        limit = self.toxic.attribute("bytes")
        if limit - sent > 0:
            piece = chunk.data[: limit - sent]
            await self.forward(Chunk(piece, chunk.ts))
            # Counted only once handed on, so a restarted stage never counts a chunk twice.
            sent += len(piece)
            self.host.counters[name] = sent
            if sent < limit:
                return
        # The end travels through the rest of the chain, so later toxics (latency, ...)
        # still deliver the data before the connection closes.
        self.holding = Chunk(b"", chunk.ts, eof=True)
        await self.forward(self.holding)
        self.host.counters[name] = -1


_STAGES: dict[str, type[Stage]] = {
    "noop": Stage,
    "latency": LatencyStage,
    "bandwidth": BandwidthStage,
    "slow_close": SlowCloseStage,
    "timeout": TimeoutStage,
    "reset_peer": ResetPeerStage,
    "slicer": SlicerStage,
    "limit_data": LimitDataStage,
}


def make_stage(host: StageHost, toxic: Toxic, index: int) -> Stage:
    return _STAGES[toxic.type](host, toxic, index)
