"""A small typed client for the Toxiproxy HTTP API (the embedded fault proxy or a real one).

The orchestrator drives network faults only through this client, so a scenario runs the same
against ``python -m harness.faultproxy`` and against a real ``toxiproxy-server`` (URL from
``TOXIPROXY_URL``). It therefore uses only what every Toxiproxy 2.x server understands: POST for
updates (PATCH arrived in 2.6), and a tolerant reading of ``/version``. Every call has a timeout
— a Toxiproxy API call can hang under load (Toxiproxy issue #159) — and every failure is a
:class:`ToxiproxyError` carrying the HTTP status (0 when no response arrived).

This module must not import :mod:`harness.faultproxy`: the client works against any server.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from harness.errors import InfrastructureError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DEFAULT_URL",
    "Proxy",
    "Toxic",
    "ToxiproxyClient",
    "ToxiproxyError",
    "default_url",
]

DEFAULT_URL = "http://127.0.0.1:8474"
DEFAULT_TIMEOUT_S = 10.0


def default_url() -> str:
    """``TOXIPROXY_URL`` if set, else Toxiproxy's default address."""
    return os.environ.get("TOXIPROXY_URL") or DEFAULT_URL


class ToxiproxyError(InfrastructureError):
    """A failed API call. ``status`` is the HTTP status, or 0 if no response arrived.

    An ``InfrastructureError``, so one that escapes (a proxy killed mid-run) is reported with
    exit 3 and never stops a clean-up that catches ``BrownoutError``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data.get("stream", "downstream")),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")


class ToxiproxyClient:
    """Synchronous client; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or default_url()).rstrip("/")
        # Toxiproxy answers 403 to browser user agents; httpx's default one is fine, but say
        # who we are.
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout_s,
            headers={"User-Agent": "brownout-toxiproxy-client"},
            transport=transport,
            # Never through an HTTP(S)_PROXY from the environment: the fault proxy's API is
            # local, and its traffic must not leave the machine by a detour.
            trust_env=False,
        )

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = self._http.request(method, path, content=content, headers=headers)
        except httpx.TimeoutException as err:
            raise ToxiproxyError(f"{method} {self.url}{path}: timed out ({err})", 0) from err
        except httpx.HTTPError as err:
            raise ToxiproxyError(f"{method} {self.url}{path}: {err}", 0) from err
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"{method} {path}: {_error_message(response)}", response.status_code
            )
        return response

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        response = self._request(method, path, body)
        try:
            return response.json()
        except ValueError as err:
            raise ToxiproxyError(
                f"{method} {path}: response is not JSON: {response.text[:200]!r}",
                response.status_code,
            ) from err

    # -- API ------------------------------------------------------------------------------

    def version(self) -> str:
        """The server version; accepts every 2.x body form (plain text or JSON)."""
        text = self._request("GET", "/version").text.strip()
        # <=2.5: bare "2.4.0"; 2.6.0: JSON followed by a literal backslash-n; >=2.7: JSON.
        match = re.search(r'"version"\s*:\s*"([^"]*)"', text)
        return match.group(1) if match else text

    def list_proxies(self) -> dict[str, Proxy]:
        data = self._json("GET", "/proxies")
        return {name: Proxy.from_json(p) for name, p in data.items()}

    def create_proxy(self, name: str, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return Proxy.from_json(self._json("POST", "/proxies", body))

    def get_proxy(self, name: str) -> Proxy:
        return Proxy.from_json(self._json("GET", f"/proxies/{_segment(name)}"))

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{_segment(name)}")

    def update_proxy(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        listen: str | None = None,
        upstream: str | None = None,
    ) -> Proxy:
        """Partial update (omitted fields keep their values). Uses POST, which every 2.x
        server accepts."""
        body: dict[str, Any] = {}
        if enabled is not None:
            body["enabled"] = enabled
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        return Proxy.from_json(self._json("POST", f"/proxies/{_segment(name)}", body))

    def list_toxics(self, proxy: str) -> list[Toxic]:
        data = self._json("GET", f"/proxies/{_segment(proxy)}/toxics")
        return [Toxic.from_json(t) for t in data]

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: Mapping[str, int] | None = None,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> Toxic:
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        return Toxic.from_json(self._json("POST", f"/proxies/{_segment(proxy)}/toxics", body))

    def update_toxic(
        self,
        proxy: str,
        toxic_name: str,
        *,
        attributes: Mapping[str, int] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{_segment(proxy)}/toxics/{_segment(toxic_name)}"
        return Toxic.from_json(self._json("POST", path, body))

    def remove_toxic(self, proxy: str, toxic_name: str) -> None:
        self._request("DELETE", f"/proxies/{_segment(proxy)}/toxics/{_segment(toxic_name)}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    def populate(self, proxies: Iterable[Proxy | Mapping[str, Any]]) -> list[Proxy]:
        """Create or replace proxies in one call (identical existing proxies are kept)."""
        body = [
            {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled}
            if isinstance(p, Proxy)
            else dict(p)
            for p in proxies
        ]
        data = self._json("POST", "/populate", body)
        return [Proxy.from_json(p) for p in data.get("proxies") or ()]


def _segment(name: str) -> str:
    return quote(name, safe="")


def _error_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return response.text.strip()
