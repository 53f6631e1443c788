"""A named TCP proxy: its listener, its live connections and its toxics.

Mirrors Toxiproxy's proxy semantics: a proxy accepts a client, *then* dials ``upstream``; a
failed dial closes the client (it sees EOF); disabling, deleting or re-pointing a proxy closes
the listener and every live connection; toxic changes reach live connections at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass, field

from harness.faultproxy.connection import Connection
from harness.faultproxy.endpoint import Endpoint
from harness.faultproxy.gojson import dumps
from harness.faultproxy.toxics import Direction, Toxic

__all__ = ["ApiError", "Proxy", "join_host_port", "resolve_listen", "split_host_port"]

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def split_host_port(address: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``: ``host:port`` or ``[v6]:port``; errors worded like Go's."""
    if address.startswith("["):
        end = address.find("]")
        if end < 0:
            raise ApiError(f"address {address}: missing ']' in address", 500)
        host, rest = address[1:end], address[end + 1 :]
        if not rest:
            raise ApiError(f"address {address}: missing port in address", 500)
        if not rest.startswith(":") or ":" in rest[1:]:
            raise ApiError(f"address {address}: too many colons in address", 500)
        return host, rest[1:]
    colon = address.rfind(":")
    if colon < 0:
        raise ApiError(f"address {address}: missing port in address", 500)
    host = address[:colon]
    if ":" in host:
        raise ApiError(f"address {address}: too many colons in address", 500)
    return host, address[colon + 1 :]


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_port(address: str, port: str) -> int:
    if port == "":
        return 0
    if not port.isdigit() or int(port) > 65535:
        raise ApiError(f"address {address}: invalid port", 500)
    return int(port)


async def resolve_listen(listen: str) -> tuple[str, int]:
    """Resolve a ``listen`` value to an IP and port.

    Deviation from Toxiproxy (documented): an empty host binds 127.0.0.1, not every
    interface — a fault proxy for tests has no business listening on the network.
    """
    if listen == "":
        return "127.0.0.1", 0
    host, port_text = split_host_port(listen)
    port = _parse_port(listen, port_text)
    if host == "" or host == "localhost":
        return "127.0.0.1", port
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, family=socket.AF_UNSPEC
        )
    except (OSError, UnicodeError) as err:
        raise ApiError(f"lookup {host}: no such host ({err})", 500) from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0]), port


def _go_errno_text(err: OSError) -> str:
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


@dataclass
class ProxyMetrics:
    """Bytes per direction, counted when a link finishes (as Toxiproxy's /metrics does)."""

    received: dict[Direction, int] = field(default_factory=lambda: {"upstream": 0, "downstream": 0})
    sent: dict[Direction, int] = field(default_factory=lambda: {"upstream": 0, "downstream": 0})


class Proxy:
    def __init__(
        self, name: str, listen: str, upstream: str, enabled: bool, *, seed: int = 0
    ) -> None:
        self.name = name
        self.seed = seed
        """The server's ``-seed``: with the accept number it seeds each connection's links."""
        self._accepts = 0
        self.listen = listen
        self.upstream = upstream
        self.enabled = enabled
        self.toxics: list[Toxic] = []
        self.connections: set[Connection] = set()
        self.metrics = ProxyMetrics()
        self._server: asyncio.Server | None = None
        self._generation = 0
        self._dials: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the listener runs in, kept by :meth:`start`: looking it up costs a
        getpid() system call, twice per accepted connection otherwise."""

    # -- representation -------------------------------------------------------------------

    def ordered_toxics(self) -> list[Toxic]:
        """Upstream toxics first, then downstream, each in creation order (Toxiproxy's)."""
        return [t for t in self.toxics if t.direction == "upstream"] + [
            t for t in self.toxics if t.direction == "downstream"
        ]

    def to_json(self) -> str:
        toxics = ",".join(t.to_json() for t in self.ordered_toxics())
        return (
            '{"name":'
            + dumps(self.name)
            + ',"listen":'
            + dumps(self.listen)
            + ',"upstream":'
            + dumps(self.upstream)
            + ',"enabled":'
            + ("true" if self.enabled else "false")
            + ',"Logger":{},"toxics":['
            + toxics
            + "]}"
        )

    # -- listener -------------------------------------------------------------------------

    async def start(self, *, context: str = "listen tcp: ") -> None:
        """Bind the listener; ``listen`` becomes the actual address. Errors are 500s."""
        if self._server is not None:
            return
        try:
            host, port = await resolve_listen(self.listen)
        except ApiError as err:
            raise ApiError(context + err.message, 500) from None
        self._loop = asyncio.get_running_loop()
        try:
            server = await self._loop.create_server(
                self._new_client, host, port, reuse_address=True, backlog=1024
            )
        except OSError as err:
            where = join_host_port(host, port)
            raise ApiError(f"listen tcp {where}: bind: {_go_errno_text(err)}", 500) from None
        except OverflowError:
            raise ApiError(f"listen tcp: address {self.listen}: invalid port", 500) from None
        bound = server.sockets[0].getsockname()
        self._server = server
        self.listen = join_host_port(host, int(bound[1]))
        self.enabled = True
        self._generation += 1

    def stop(self) -> None:
        """Close the listener and every live connection (clients see EOF)."""
        self._generation += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        self.enabled = False
        for dial in list(self._dials):
            dial.cancel()
        for connection in list(self.connections):
            connection.close()

    def _new_client(self) -> Endpoint:
        return Endpoint(self._accepted)

    def _accepted(self, client: Endpoint) -> None:
        # Numbered in accept order, before the dial (dials may finish in any order).
        self._accepts += 1
        seed_key = f"{self.seed}/{self.name}/{self._accepts}"
        assert self._loop is not None  # accepting means started
        dial = self._loop.create_task(self._dial(client, seed_key))
        self._dials.add(dial)
        dial.add_done_callback(self._dials.discard)

    async def _dial(self, client: Endpoint, seed_key: str) -> None:
        generation = self._generation
        loop = self._loop
        assert client.transport is not None and loop is not None
        try:
            host, port_text = split_host_port(self.upstream)
            port = int(port_text)
            _transport, upstream = await loop.create_connection(Endpoint, host, port)
        except (OSError, ValueError, ApiError) as err:
            log.info("proxy %s: dial %s failed: %s", self.name, self.upstream, err)
            client.transport.close()
            return
        except asyncio.CancelledError:
            # The proxy stopped while dialling.
            client.transport.abort()
            raise
        if generation != self._generation or self._server is None:
            if upstream.transport is not None:
                upstream.transport.close()
            client.transport.close()
            return
        connection = Connection(client, upstream, self._forget, seed_key)
        self.connections.add(connection)
        connection.start(self.toxics)

    def _forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        for link in connection.links:
            self.metrics.received[link.direction] += link.bytes_received
            self.metrics.sent[link.direction] += link.bytes_sent

    # -- toxics ---------------------------------------------------------------------------

    def find_toxic(self, name: str) -> Toxic | None:
        return next((t for t in self.toxics if t.name == name), None)

    def add_toxic(self, toxic: Toxic) -> None:
        self.toxics.append(toxic)
        self.apply_toxics()

    def remove_toxic(self, toxic: Toxic) -> None:
        self.toxics.remove(toxic)
        self.apply_toxics()

    def apply_toxics(self) -> None:
        for connection in list(self.connections):
            connection.apply(self.toxics)
