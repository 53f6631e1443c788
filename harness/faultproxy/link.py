"""One direction of one proxied connection: a reader, a chain of toxic stages, a writer.

The link gets chunks from its source socket's protocol and pushes them through the stages of
the toxics that are *active on this link* (toxicity is rolled per link when it starts, and
re-rolled when that toxic is updated). With no active toxic each chunk is written to the
destination transport inside the source's ``data_received`` callback, so an idle fault proxy
costs little more than a plain transport-to-transport TCP relay.

Rewiring after an API change is synchronous: all stage tasks are cancelled, the chunks they held
are handed to the new chain in order, and the new stages start. Nothing waits for a stage, so
a toxic can always be removed, whatever the traffic.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict, deque
from collections.abc import Sequence
from time import monotonic as now
from typing import Protocol

from harness.faultproxy.chunks import Chunk
from harness.faultproxy.endpoint import Endpoint
from harness.faultproxy.stages import Stage, make_stage
from harness.faultproxy.toxics import Direction, Toxic

__all__ = ["Link", "roll_toxicity"]

#: Toxiproxy's chunks are at most 32 KiB (one read); larger reads are cut to that size when
#: they enter a toxic chain, so toxics see the same chunks (and the latency toxic's 1024-chunk
#: buffer holds the same amount of data).
CHUNK_SIZE = 32 * 1024


class ConnectionHandle(Protocol):
    def close(self, *, reset: bool = False) -> None: ...

    def link_finished(self) -> None: ...


def roll_toxicity(toxicity: float, link: Link) -> bool:
    """Is a toxic active on a new link? Rolled once per link, not per chunk; the link's
    generator is only made (and drawn from) for a toxicity strictly between 0 and 1."""
    if toxicity >= 1:
        return True
    if toxicity <= 0:
        return False
    return link.rng.random() < toxicity


class Link:
    """Bytes from ``source`` to ``dest``, through the stages of this link's active toxics.

    Two paths, switched by :meth:`rewire`:

    * **no active toxic** — ``data_received`` of the source writes straight to the destination
      transport; when the destination's buffer fills, reading of the source pauses until it
      drains (the transport's own flow control, no task involved);
    * **toxics** — each chunk is time-stamped and pushed into the first stage's inbox. When the
      inbox has no room the chunk waits in ``_intake`` and reading pauses, as Toxiproxy's
      reader blocks on a full channel; a small feeder task moves the intake on.

    Order is kept across switches: while ``_intake`` holds chunks, new data queues behind them
    even when the chain became empty, and chunks held by removed stages are written (or handed
    to the new chain) during the rewire itself, before any later read can be relayed.
    """

    def __init__(
        self,
        connection: ConnectionHandle,
        direction: Direction,
        source: Endpoint,
        dest: Endpoint,
        seed_key: str = "",
    ) -> None:
        self.connection = connection
        self.seed_key = seed_key
        """What this link's random decisions are seeded from (see :attr:`rng`)."""
        self._rng: random.Random | None = None
        self.direction = direction
        self.source = source
        self.dest = dest
        self.stages: list[Stage] = []
        self.counters: dict[str, int] = {}
        self.bytes_received = 0
        self.bytes_sent = 0
        self.closed = False
        self.finished = False
        self._rolls: dict[str, tuple[int, bool]] = {}
        self._intake: deque[Chunk] = deque()
        self._feeder: asyncio.Task[None] | None = None
        self._source_ended = False
        self._drained: asyncio.Future[None] | None = None

    @property
    def rng(self) -> random.Random:
        """The link's own generator for toxicity rolls, jitter and slice sizes.

        Seeded from the server's ``-seed``, the proxy, the connection's accept number and the
        direction, so the same seed gives every connection the same decisions run after run,
        whatever the interleaving of concurrent connections. Made on first use: a link that
        never meets a random toxic costs nothing.
        """
        if self._rng is None:
            self._rng = random.Random(self.seed_key)
        return self._rng

    def start(self, toxics: Sequence[Toxic]) -> None:
        if toxics:
            self.rewire(toxics)
        self.source.reader = self
        self.dest.writer = self
        for data in self.source.take_early():
            self.on_data(data)
        if self.source.eof:
            self.on_eof()
        self._update_reading()

    def stop(self) -> None:
        """Cancel every task of the link (the connection closes the sockets)."""
        self.closed = True
        if self._feeder is not None:
            self._feeder.cancel()
        for stage in self.stages:
            stage.stop()
        self.stages = []
        self._intake.clear()
        _wake(self._drained)

    def close_connection(self, *, reset: bool = False) -> None:
        self.connection.close(reset=reset)

    # -- events from the sockets ----------------------------------------------------------

    def on_data(self, data: bytes) -> None:
        if self.stages or self._intake or self.closed or self._source_ended:
            self._on_data_slow(data)
            return
        # The fast path, inlined (it runs for every chunk of every link without toxics).
        size = len(data)
        self.bytes_received += size
        transport = self.dest.transport
        try:
            if transport is None or transport.is_closing():
                raise ConnectionResetError
            # uvloop raises RuntimeError ("handler is closed") after a peer reset.
            transport.write(data)
        except (RuntimeError, ConnectionError, OSError):
            self.close_connection()
            return
        self.bytes_sent += size

    def _on_data_slow(self, data: bytes) -> None:
        if self.closed or self._source_ended:
            return
        self.bytes_received += len(data)
        if not self._intake and (not self.stages or self._passes_through()):
            self._send(data)
            return
        stamp = now()
        if len(data) <= CHUNK_SIZE:
            self._take_in(Chunk(data, stamp))
            return
        for start in range(0, len(data), CHUNK_SIZE):
            self._take_in(Chunk(data[start : start + CHUNK_SIZE], stamp))

    def _passes_through(self) -> bool:
        """Would every stage hand this data on at once, untouched, with none of it queued?

        True for ``noop`` and a ``latency`` of 0 ms without jitter while the chain is empty
        and the destination takes writes: the chunk is then written inside this callback, as
        on the fast path, instead of hopping through one task per stage. Nothing can
        overtake it (no chunk is in the chain), and a toxic whose behaviour depends on time,
        randomness or byte counts is never skipped.
        """
        if self.dest.write_paused:
            return False
        return all(stage.passes_through() for stage in self.stages)

    def on_eof(self) -> None:
        if self.closed or self._source_ended:
            return
        self._source_ended = True
        eof = Chunk(b"", now(), eof=True)
        if not self._intake and all(stage.passes_eof_through() for stage in self.stages):
            self._write_now(eof)
        else:
            self._take_in(eof)

    def on_pause_writing(self) -> None:
        self._update_reading()

    def on_resume_writing(self) -> None:
        _wake(self._drained)
        self._update_reading()

    def on_dest_lost(self) -> None:
        _wake(self._drained)

    def _update_reading(self) -> None:
        # Read while no chunk waits for the first stage and, on the fast path, while the
        # destination accepts writes. With toxics, a full destination blocks the last stage
        # instead, and the chain's buffers (the latency toxic's 1024 chunks) fill first, as
        # in Toxiproxy.
        dest_full = self.dest.write_paused and not self.stages
        self.source.set_reading(
            not (self.closed or self._source_ended or dest_full or self._intake)
        )

    # -- the toxic path -------------------------------------------------------------------

    def _take_in(self, chunk: Chunk) -> None:
        if not self._intake and self.stages and self.stages[0].inbox.has_room():
            self.stages[0].push(chunk)
            return
        self._intake.append(chunk)
        self._update_reading()
        if self._feeder is None or self._feeder.done():
            # Looked up here, not kept from __init__: each lookup is a getpid() system call,
            # and most links (a connection per request) never need the loop.
            self._feeder = asyncio.get_running_loop().create_task(self._feed())

    async def _feed(self) -> None:
        try:
            while self._intake:
                chunk = self._intake[0]
                await self.deliver(0, chunk)
                # Same step as the hand-over: a cancelled feeder never loses or repeats a chunk.
                self._intake.popleft()
        except (ConnectionError, OSError):
            self.close_connection()
            return
        self._update_reading()

    async def deliver(self, index: int, chunk: Chunk) -> None:
        """Hand ``chunk`` to stage ``index`` (or the destination when past the last stage).

        Returns only once the chunk was accepted, in the same step as the hand-over, so a
        caller that is cancelled while waiting still owns the chunk.
        """
        while True:
            if index < len(self.stages):
                inbox = self.stages[index].inbox
                if inbox.has_room():
                    chunk.ts = now()
                    self.stages[index].push(chunk)
                    return
                # The stage may be rewired away while we wait: look it up again.
                await inbox.wait_room()
            else:
                if not chunk.eof:
                    await self._drain()
                self._write_now(chunk)
                return

    async def _drain(self) -> None:
        """Wait until the destination's buffer is below its high-water mark."""
        while self.dest.write_paused and not self.dest.lost and not self.closed:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            # Shielded: a stage cancelled by a rewire must not cancel other waiters' wake-up.
            await asyncio.shield(self._drained)
        if self.dest.lost:
            raise ConnectionResetError("Connection lost")

    def _write_now(self, chunk: Chunk) -> None:
        if chunk.eof:
            # No half-close, as in Toxiproxy: the end of the source fully closes the
            # destination socket. That socket is the other link's source, which then sees
            # EOF too and ends after its own toxics (slow_close, latency) had their say.
            self.finished = True
            if self.dest.transport is not None:
                self.dest.transport.close()
            self.connection.link_finished()
            return
        self._send(chunk.data)

    def _send(self, data: bytes) -> bool:
        """Write to the destination; if it is gone (peer reset), end the connection."""
        transport = self.dest.transport
        try:
            if transport is None or transport.is_closing():
                raise ConnectionResetError
            # uvloop raises RuntimeError ("handler is closed") after a peer reset.
            transport.write(data)
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
                rolls[toxic.name] = (toxic.revision, roll_toxicity(toxic.toxicity, self))
        self._rolls = rolls
        for name in [n for n in self.counters if n not in rolls]:
            del self.counters[name]
        active = [toxic for toxic in toxics if rolls[toxic.name][1]]
        if not self.stages:
            # A new link (or one without active toxics): nothing to carry over or close.
            if active:
                self._rebuild(active)
            return
        current = [(id(s.toxic), s.revision) for s in self.stages]
        if current == [(id(t), t.revision) for t in active]:
            return
        present = {id(toxic) for toxic in toxics}
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
        if not old_stages:
            self.stages = new_stages
            for stage in new_stages:
                stage.start()
            self._update_reading()
            return
        position = {id(stage.toxic): index for index, stage in enumerate(new_stages)}
        rewired_at = now()
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
                    chunk.ts = rewired_at
            carried[target].append((stage.toxic.seq, chunks))
        self.stages = new_stages
        for target in sorted(carried):
            # Chunks further down the old chain are older: they go first.
            groups = sorted(carried[target], key=lambda group: group[0], reverse=True)
            for _seq, chunks in groups:
                for chunk in chunks:
                    if target < len(new_stages):
                        new_stages[target].push(chunk)
                    else:
                        self._write_now(chunk)
        for stage in new_stages:
            stage.start()
        self._update_reading()


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
