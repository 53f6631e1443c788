"""The set of proxies and every state change the API can make to it.

Each method is one Toxiproxy operation with its checks in Toxiproxy's order and its error
statuses. Mutations run under one lock so concurrent API calls cannot race (two creates of one
name). The lock is never held while waiting on proxied traffic — toxic changes rewire live
links synchronously — so an API call cannot hang behind a busy connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from harness.faultproxy.proxy import ApiError, Proxy, resolve_listen
from harness.faultproxy.toxics import Toxic

__all__ = ["PopulateError", "ProxySpec", "Registry"]


@dataclass(frozen=True)
class ProxySpec:
    name: str
    listen: str
    upstream: str
    enabled: bool = True


class PopulateError(ApiError):
    """A populate failure, with the proxies applied before it (Toxiproxy returns them)."""

    def __init__(self, message: str, status: int, applied: list[Proxy]) -> None:
        super().__init__(message, status)
        self.applied = applied


class Registry:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.proxies: dict[str, Proxy] = {}
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    def sorted_proxies(self) -> list[Proxy]:
        return [self.proxies[name] for name in sorted(self.proxies)]

    async def create(self, spec: ProxySpec) -> Proxy:
        async with self.lock:
            if spec.name in self.proxies:
                raise ApiError("proxy already exists", 409)
            return await self._create(spec)

    async def _create(self, spec: ProxySpec) -> Proxy:
        proxy = Proxy(spec.name, spec.listen, spec.upstream, enabled=False, seed=self.seed)
        if spec.enabled:
            await proxy.start()
        self.proxies[spec.name] = proxy
        return proxy

    async def populate(self, specs: list[ProxySpec]) -> list[Proxy]:
        """Create or replace in order; identical existing proxies are left untouched."""
        applied: list[Proxy] = []
        async with self.lock:
            for spec in specs:
                try:
                    applied.append(await self._populate_one(spec))
                except ApiError as err:
                    raise PopulateError(err.message, err.status, applied) from None
        return applied

    async def _populate_one(self, spec: ProxySpec) -> Proxy:
        existing = self.proxies.get(spec.name)
        if existing is not None:
            try:
                wanted = await resolve_listen(spec.listen)
            except ApiError as err:
                raise ApiError("listen tcp: " + err.message, 500) from None
            if await _same_listen(existing.listen, wanted) and existing.upstream == spec.upstream:
                return existing
            existing.stop()
            del self.proxies[spec.name]
        return await self._create(spec)

    async def update(self, proxy: Proxy, *, listen: str, upstream: str, enabled: bool) -> Proxy:
        async with self.lock:
            wanted = await resolve_listen(listen)  # 500 "address ...: missing port in address"
            if not await _same_listen(proxy.listen, wanted) or upstream != proxy.upstream:
                proxy.stop()
                proxy.listen = listen
                proxy.upstream = upstream
            if enabled and not proxy.enabled:
                await proxy.start()
            elif not enabled and proxy.enabled:
                proxy.stop()
            return proxy

    async def delete(self, name: str) -> None:
        async with self.lock:
            proxy = self.get(name)
            proxy.stop()
            del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove all toxics; live connections stay up."""
        async with self.lock:
            for proxy in self.sorted_proxies():
                if not proxy.enabled:
                    await proxy.start()
                proxy.toxics.clear()
                proxy.apply_toxics()

    def add_toxic(self, proxy: Proxy, toxic: Toxic) -> None:
        if proxy.find_toxic(toxic.name) is not None:
            raise ApiError("toxic already exists", 409)
        proxy.add_toxic(toxic)

    def get_toxic(self, proxy: Proxy, name: str) -> Toxic:
        toxic = proxy.find_toxic(name)
        if toxic is None:
            raise ApiError("toxic not found", 404)
        return toxic

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            proxy.stop()
        self.proxies.clear()


async def _same_listen(current: str, wanted: tuple[str, int]) -> bool:
    try:
        return await resolve_listen(current) == wanted
    except ApiError:
        return False
