"""Request identity passed from the user's request to every provider call it causes.

brownout joins each provider call to the user request that caused it through ``X-Request-Id``
(and a tracing backend through W3C ``traceparent``), so a service that drops them makes retry
amplification per request unmeasurable. Every example forwards both exactly as they arrived
(and makes up a request id when the caller sent none, returning it in its response).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from example_kit.asgi import Headers, Scope, header

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass(frozen=True)
class Context:
    """The identity of one incoming request."""

    request_id: str
    traceparent: str | None = None

    def provider_headers(self) -> dict[str, str]:
        """Headers for every provider call made on behalf of this request."""
        headers = {"X-Request-Id": self.request_id}
        if self.traceparent is not None:
            headers["traceparent"] = self.traceparent
        return headers

    def response_headers(self) -> Headers:
        return [(b"x-request-id", self.request_id.encode("latin-1", errors="replace"))]


def incoming(scope: Scope) -> Context:
    """The request's id (a fresh one when absent) and its ``traceparent`` when well-formed."""
    traceparent = header(scope, b"traceparent")
    if traceparent is not None and not _TRACEPARENT.match(traceparent.lower()):
        traceparent = None  # a malformed one must not be propagated (W3C trace context §3.2)
    return Context(header(scope, b"x-request-id") or uuid.uuid4().hex, traceparent)
