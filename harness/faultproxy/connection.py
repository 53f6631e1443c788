"""A proxied connection: the client socket, the upstream socket and the two links between them.

There is no half-close, as in Toxiproxy: the end of one side closes the other side's socket,
and the connection is over once both links finished. A toxic that cuts the connection, or a
proxy being disabled, closes both sockets at once. A reset sets ``SO_LINGER`` to zero first
so the peers see a real TCP RST (ECONNRESET) rather than an orderly FIN.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable, Sequence

from harness.faultproxy.endpoint import Endpoint
from harness.faultproxy.link import Link
from harness.faultproxy.toxics import Toxic

__all__ = ["Connection"]

_LINGER_ZERO = struct.pack("ii", 1, 0)


class Connection:
    def __init__(
        self,
        client: Endpoint,
        upstream: Endpoint,
        on_close: Callable[[Connection], None],
        seed_key: str = "",
    ) -> None:
        self._endpoints = (client, upstream)
        self.upstream = Link(self, "upstream", client, upstream, seed_key + "/upstream")
        self.downstream = Link(self, "downstream", upstream, client, seed_key + "/downstream")
        self._on_close = on_close
        self.closed = False

    @property
    def links(self) -> tuple[Link, Link]:
        return (self.upstream, self.downstream)

    def start(self, toxics: Sequence[Toxic]) -> None:
        for link in self.links:
            link.start([t for t in toxics if t.direction == link.direction])

    def apply(self, toxics: Sequence[Toxic]) -> None:
        """Bring both links in line with the proxy's current toxics (live change)."""
        for link in self.links:
            link.rewire([t for t in toxics if t.direction == link.direction])

    def link_finished(self) -> None:
        if all(link.finished for link in self.links):
            self.close()

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links:
            link.stop()
        for endpoint in self._endpoints:
            transport = endpoint.transport
            if transport is None:
                continue
            # A transport the peer already reset may refuse everything (uvloop: RuntimeError).
            with contextlib.suppress(OSError, RuntimeError):
                if reset:
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                    transport.abort()
                else:
                    # close() flushes what is already buffered, then sends FIN.
                    transport.close()
        self._on_close(self)
