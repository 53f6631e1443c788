"""The contract between the shared core and one API flavour's package.

A flavour package (`mock_providers.openai`, `mock_providers.anthropic`, ...) exports one
`FlavourSpec`: its routes, its wire format and its response headers. The app assembles a mock
from a spec and never names a flavour, and route handlers see the app only through `Provider`,
so flavour packages depend on the core alone: no import cycle, and a new API is a new package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mock_providers.core.call import Call, Headers
from mock_providers.core.engine import ChatFormat, Engine
from mock_providers.core.faults import FaultSet
from mock_providers.core.ratelimit import AccountLimits
from mock_providers.core.wire import WireError


class Provider(Protocol):
    """What a route handler may use of the running mock."""

    engine: Engine
    faults: FaultSet
    account: AccountLimits


Handler = Callable[[Provider, Call, Any], Awaitable[None]]


def same_path(path: str) -> str:
    """The journalled spelling of a path for flavours whose clients all use one spelling."""
    return path


@dataclass(frozen=True)
class FlavourSpec:
    """One API flavour: what the app needs to serve it."""

    name: str
    routes: dict[tuple[str, str], Handler]
    format: ChatFormat
    # Per-call response headers (request id, organisation, rate-limit state); they also set
    # `call.request_id`.
    headers: Callable[[AccountLimits, Call], Headers]
    # The same for the replay hot path, where no `Call` exists.
    replay_headers: Callable[[AccountLimits], Headers]
    # The same two as rendered header lines (`core.httpcycle.render_head`), byte for byte, where
    # the flavour builds them cheaper than rendering the list (they run on every call); None:
    # rendered from the lists.
    head: Callable[[AccountLimits, Call], bytes] | None = None
    replay_head: Callable[[AccountLimits], bytes] | None = None
    # The endpoint as journalled and routed (e.g. OpenAI's optional `/v1` prefix).
    normalise_path: Callable[[str], str] = same_path
    # Routes with parameters in the path (Azure deployments, Gemini `models/{m}:generateContent`):
    # (method, endpoint) -> handler, asked when `routes` has no exact match.
    resolve: Callable[[str, str], Handler | None] | None = None
    # What the provider's front door refuses before routing or replay (a missing key or
    # api-version): the ASGI scope -> the error, or None to go on.
    precheck: Callable[[dict[str, Any]], WireError | None] | None = None
