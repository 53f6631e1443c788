"""``FaultProxyServer``: the embedded Toxiproxy-compatible server as an in-process object.

The CLI (``python -m harness.faultproxy``) and the tests both use this class, so what the
tests exercise is exactly what the orchestrator starts.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType

from harness.faultproxy.api import Api, populate_specs
from harness.faultproxy.httpserver import HttpServer
from harness.faultproxy.proxy import ApiError
from harness.faultproxy.registry import Registry

__all__ = ["FaultProxyServer"]

log = logging.getLogger(__name__)


class FaultProxyServer:
    """Serve the Toxiproxy API on ``host:port`` (port 0 picks a free one) in the running loop.

    >>> async with FaultProxyServer() as server:   # doctest: +SKIP
    ...     httpx.get(server.url + "/version")
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        metrics: bool = False,
        seed: int | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        #: Seeds every random decision (toxicity, jitter, slicer); from the clock when not
        #: given, as Toxiproxy's ``-seed`` defaults to the time.
        self.seed = time.time_ns() if seed is None else seed
        self.registry = Registry(self.seed)
        self.api = Api(self.registry, metrics=metrics)
        self._http = HttpServer(self.api.handle)

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        await self._http.start(self.host, self.requested_port)

    async def stop(self) -> None:
        """Close the API listener, every proxy listener and every proxied connection."""
        await self._http.stop()
        await self.registry.close()

    async def populate_file(self, path: str) -> None:
        """Load a ``-config`` file (a ``/populate`` body). Errors are logged, not raised:
        Toxiproxy starts anyway."""
        try:
            with open(path, "rb") as handle:
                specs = populate_specs(handle.read())
            await self.registry.populate(specs)
        except (OSError, ApiError) as err:
            log.error("could not load config %s: %s", path, getattr(err, "message", err))
            return
        log.info("loaded %d proxies from %s", len(specs), path)

    async def __aenter__(self) -> FaultProxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
