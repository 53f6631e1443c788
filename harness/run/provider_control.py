"""The orchestrator's client for a mock provider's control API (``/_brownout/…``).

mock_providers is a separate program (it does not import harness, nor harness it); this small
HTTP client is the whole of the coupling.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from harness.errors import FaultInjectionError

__all__ = ["ProviderControl"]


class ProviderControl:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s, trust_env=False)

    def set_fault(
        self,
        name: str,
        type_: str,
        *,
        probability: float,
        params: dict[str, Any],
        schedule: dict[str, Any] | None = None,
    ) -> None:
        body = {"name": name, "type": type_, "probability": probability, "params": params}
        body.update(schedule or {})
        self._call("POST", "/_brownout/faults", json=body, expect=(200, 201))

    def check_fault(
        self,
        name: str,
        type_: str,
        *,
        probability: float,
        params: dict[str, Any],
        schedule: dict[str, Any] | None = None,
    ) -> str | None:
        """Ask the mock whether it would accept this fault; the problem in words, or None."""
        body = {"name": name, "type": type_, "probability": probability, "params": params}
        body.update(schedule or {})
        response = self._call("POST", "/_brownout/faults/validate", json=body, expect=(200, 400))
        if response.status_code == 200:
            return None
        try:
            return str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            return response.text[:300]

    def clear_fault(self, name: str) -> None:
        """Remove the fault brownout set; a 404 means it vanished, which is an error (a fault
        we cannot account for), not a success."""
        self._call("DELETE", f"/_brownout/faults/{quote(name, safe='')}", expect=(200, 204))

    def clear_all(self) -> None:
        self._call("DELETE", "/_brownout/faults", expect=(200, 204))

    def stats(self) -> dict[str, Any]:
        response = self._call("GET", "/_brownout/stats", expect=(200,))
        data: dict[str, Any] = response.json()
        return data

    def close(self) -> None:
        self._client.close()

    def _call(
        self, method: str, path: str, *, expect: tuple[int, ...], json: Any = None
    ) -> httpx.Response:
        try:
            try:
                response = self._client.request(method, path, json=json)
            except httpx.RemoteProtocolError:
                # A kept-alive connection the mock's server closed as idle (uvicorn: 5 s) just
                # as we reused it: nothing was answered. Every control call is idempotent (a
                # named fault is set or cleared), so one retry on a fresh connection is safe.
                response = self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise FaultInjectionError(
                f"mock provider at {self.base_url} did not answer {method} {path}: {exc}"
            ) from None
        if response.status_code not in expect:
            raise FaultInjectionError(
                f"mock provider at {self.base_url} refused {method} {path}: "
                f"HTTP {response.status_code} {response.text[:300]}"
            )
        return response
