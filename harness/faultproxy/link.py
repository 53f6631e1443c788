"""One direction of one proxied connection: a reader, a chain of toxic stages, a writer.

The link reads chunks from its source socket and pushes them through the stages of the toxics
that are *active on this link* (toxicity is rolled per link when it starts, and re-rolled
when that toxic is updated). With no active toxic the reader writes straight to the
destination, so an idle fault proxy costs little more than a plain TCP relay.

Rewiring after an API change is synchronous: all stage tasks are cancelled, the chunks they held
are handed to the new chain in order, and the new stages start. Nothing waits for a stage, so
a toxic can always be removed, whatever the traffic.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from harness.faultproxy.chunks import Chunk
from harness.faultproxy.stages import Stage, make_stage
from harness.faultproxy.toxics import Direction, Toxic

__all__ = ["Link", "roll_toxicity"]

#: Toxiproxy reads up to 32 KiB per chunk.
READ_SIZE = 32 * 1024


class ConnectionHandle(Protocol):
    def close(self, *, reset: bool = False) -> None: ...

    def link_finished(self) -> None: ...


def roll_toxicity(toxicity: float) -> bool:
    """Is a toxic active on a new link? Rolled once per link, not per chunk."""
    if toxicity >= 1:
        return True
    if toxicity <= 0:
        return False
    return random.random() < toxicity


class Link:
    def __init__(
        self,
        connection: ConnectionHandle,
        direction: Direction,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.connection = connection
        self.direction = direction
        self.reader = reader
        self.writer = writer
        self.stages: list[Stage] = []
        self.counters: dict[str, int] = {}
        self.bytes_received = 0
        self.bytes_sent = 0
        self.closed = False
        self.finished = False
        self._rolls: dict[str, tuple[int, bool]] = {}
        self._pending: Chunk | None = None
        self._reader_task: asyncio.Task[None] | None = None

    def start(self, toxics: Sequence[Toxic]) -> None:
        if toxics:
            self.rewire(toxics)
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    def stop(self) -> None:
        """Cancel every task of the link (the connection closes the sockets)."""
        self.closed = True
        if self._reader_task is not None:
            self._reader_task.cancel()
        for stage in self.stages:
            stage.stop()
        self.stages = []

    def close_connection(self, *, reset: bool = False) -> None:
        self.connection.close(reset=reset)

    async def _read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = self.reader, self.writer
        try:
            while True:
                if self._pending is None:
                    try:
                        data = await reader.read(READ_SIZE)
                    except (ConnectionError, OSError):
                        data = b""
                    self.bytes_received += len(data)
                    if data and not self.stages:
                        # Fast path without toxics: relay straight away. The reader is never
                        # cancelled by a rewire, so write-then-drain cannot lose this chunk.
                        if not self._send(data):
                            return
                        await writer.drain()
                        continue
                    self._pending = Chunk(data, loop.time(), eof=not data)
                chunk = self._pending
                await self.deliver(0, chunk)
                self._pending = None
                if chunk.eof:
                    return
        except (ConnectionError, OSError):
            self.close_connection()

    async def deliver(self, index: int, chunk: Chunk) -> None:
        """Hand ``chunk`` to stage ``index`` (or the destination when past the last stage).

        Returns only once the chunk was accepted, in the same step as the hand-over, so a
        caller that is cancelled while waiting still owns the chunk.
        """
        while True:
            if index < len(self.stages):
                inbox = self.stages[index].inbox
                if inbox.has_room():
                    chunk.ts = asyncio.get_running_loop().time()
                    inbox.push(chunk)
                    return
                # The stage may be rewired away while we wait: look it up again.
                await inbox.wait_room()
            else:
                if not chunk.eof:
                    await self.writer.drain()
                self._write_now(chunk)
                return

    def _write_now(self, chunk: Chunk) -> None:
        if chunk.eof:
            # No half-close, as in Toxiproxy: the end of the source fully closes the
            # destination socket. That socket is the other link's source, which then sees
            # EOF too and ends after its own toxics (slow_close, latency) had their say.
            self.finished = True
            self.writer.transport.close()
            self.connection.link_finished()
            return
        self._send(chunk.data)

    def _send(self, data: bytes) -> bool:
        """Write to the destination; if it is gone (peer reset), end the connection."""
        try:
            if self.writer.transport.is_closing():
                raise ConnectionResetError
            # uvloop raises RuntimeError ("handler is closed") after a peer reset.
            self.writer.write(data)
        except (RuntimeError, ConnectionError, OSError):
            self.close_connection()
            return False
        self.bytes_sent += len(data)
        return True

    def rewire(self, toxics: Sequence[Toxic]) -> None:
        """Make the chain match ``toxics`` (this direction's, in creation order)."""
        if self.closed or self.finished:
            return
        rolls: dict[str, tuple[int, bool]] = {}
        for toxic in toxics:
            previous = self._rolls.get(toxic.name)
            if previous is not None and previous[0] == toxic.revision:
                rolls[toxic.name] = previous
            else:
                rolls[toxic.name] = (toxic.revision, roll_toxicity(toxic.toxicity))
        self._rolls = rolls
        present = {id(toxic) for toxic in toxics}
        for name in [n for n in self.counters if n not in rolls]:
            del self.counters[name]
        active = [toxic for toxic in toxics if rolls[toxic.name][1]]
        current = [(id(s.toxic), s.revision) for s in self.stages]
        if current == [(id(t), t.revision) for t in active]:
            return
        # Data that went through a timeout toxic is corrupt: removing it closes the connection.
        close_after = any(
            s.toxic.type == "timeout" and id(s.toxic) not in present for s in self.stages
        )
        self._rebuild(active)
        if close_after:
            self.close_connection()

    def _rebuild(self, active: list[Toxic]) -> None:
        old_stages = self.stages
        new_stages = [make_stage(self, toxic, index) for index, toxic in enumerate(active)]
        position = {id(stage.toxic): index for index, stage in enumerate(new_stages)}
        now = asyncio.get_running_loop().time()
        carried: dict[int, list[tuple[int, list[Chunk]]]] = defaultdict(list)
        for stage in old_stages:
            chunks = stage.stop()
            if not chunks:
                continue
            target = position.get(id(stage.toxic))
            if target is None:
                # A removed stage flushes onward to the next stage created after it.
                target = next(
                    (i for i, s in enumerate(new_stages) if s.toxic.seq > stage.toxic.seq),
                    len(new_stages),
                )
                for chunk in chunks:
                    chunk.ts = now
            carried[target].append((stage.toxic.seq, chunks))
        self.stages = new_stages
        for target in sorted(carried):
            # Chunks further down the old chain are older: they go first.
            groups = sorted(carried[target], key=lambda group: group[0], reverse=True)
            for _seq, chunks in groups:
                for chunk in chunks:
                    if target < len(new_stages):
                        new_stages[target].inbox.push(chunk)
                    else:
                        self._write_now(chunk)
        for stage in new_stages:
            stage.start()
