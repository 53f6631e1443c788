"""One socket of a proxied connection, as an asyncio protocol that forwards its events to links.

Every proxied connection has two sockets (client and upstream) and two links (one per
direction). A socket is the *source* of one link and the *destination* of the other, so its
protocol hands incoming bytes and the end of input to the link that reads it, and write
pressure (``pause_writing``/``resume_writing``) to the link that writes to it. Using protocols
instead of ``StreamReader``/``StreamWriter`` lets a link without toxics relay a chunk inside the
``data_received`` callback itself: no buffer copy, no task wake-up per chunk.

A client is accepted before its upstream is dialled, and an upstream may speak first: what
arrives before the links exist is kept (up to ``EARLY_LIMIT`` bytes, then reading pauses) and
replayed when they start. Reading rather than leaving it in the kernel matters: closing a
socket with unread input sends an RST, and a failed dial must close the client with a FIN.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol, cast

__all__ = ["EARLY_LIMIT", "Endpoint", "Reader", "Writer"]

#: Bytes kept from a socket before its link exists (asyncio's StreamReader default limit).
EARLY_LIMIT = 64 * 1024


class Reader(Protocol):
    """The link that reads from this socket."""

    def on_data(self, data: bytes) -> None: ...

    def on_eof(self) -> None: ...


class Writer(Protocol):
    """The link that writes to this socket."""

    def on_pause_writing(self) -> None: ...

    def on_resume_writing(self) -> None: ...

    def on_dest_lost(self) -> None: ...


class Endpoint(asyncio.Protocol):
    """Protocol of one socket; ``reader``/``writer`` are set once the connection is built."""

    def __init__(self, on_connected: Callable[[Endpoint], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.reader: Reader | None = None
        self.writer: Writer | None = None
        self.eof = False
        """Input ended (EOF or connection lost) before a reader was attached."""
        self.lost = False
        self.write_paused = False
        self.reading = True
        self.early: list[bytes] = []
        """Data received before a reader was attached, oldest first."""
        self._early_size = 0
        self._on_connected = on_connected

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's does not subclass asyncio.Transport, hence no isinstance).
        self.transport = cast(asyncio.Transport, transport)
        if self._on_connected is not None:
            self._on_connected(self)
            self._on_connected = None

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is not None:
            reader.on_data(data)
            return
        self.early.append(data)
        self._early_size += len(data)
        if self._early_size >= EARLY_LIMIT:
            self.set_reading(False)

    def eof_received(self) -> bool:
        # True keeps the transport open: there is no half-close, the link decides when this
        # socket closes (after the other direction's toxics delivered what they hold).
        self._input_ended()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._input_ended()
        if self.writer is not None:
            self.writer.on_dest_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.writer is not None:
            self.writer.on_pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.writer is not None:
            self.writer.on_resume_writing()

    # -- used by the links ----------------------------------------------------------------

    def take_early(self) -> list[bytes]:
        early, self.early, self._early_size = self.early, [], 0
        return early

    def _input_ended(self) -> None:
        if self.reader is not None:
            self.reader.on_eof()
        else:
            self.eof = True

    def set_reading(self, reading: bool) -> None:
        """Pause or resume reading this socket (a no-op once it is closing)."""
        transport = self.transport
        if reading == self.reading or transport is None or self.lost:
            return
        self.reading = reading
        # uvloop refuses pause/resume on a transport the peer already reset.
        with contextlib.suppress(RuntimeError, OSError):
            if reading:
                transport.resume_reading()
            else:
                transport.pause_reading()
