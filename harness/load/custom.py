"""The user's own locustfile (``load.locustfile``): its requests recorded as brownout's own.
Runs ONLY inside Locust processes (it patches Locust's HTTP clients).

The contract, on Locust's public extension points only:

- every request made through ``self.client`` of an ``HttpUser`` or ``FastHttpUser`` gets an
  ``X-Request-Id`` (a fresh id, unless the user set one) and a W3C ``traceparent`` whose trace
  id is that id, by wrapping ``HttpSession.request`` and ``FastHttpSession.request`` (every
  ``get``/``post``/... goes through them); the id rides in the request's Locust ``context``;
- Locust's ``events.request`` hook, fired once per request, writes a ``requests.jsonl`` row:
  ``t_start`` is Locust's ``start_time``, ``latency_ms`` its ``response_time``, the status and
  the error class come from the response and the exception (a failure the user marked with
  ``catch_response`` on a 2xx is ``validation``). A request made another way (another HTTP
  library) is still recorded if it fires ``events.request``, under a fresh id that joins
  nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from harness.load.ids import new_request_id, traceparent
from harness.load.records import RequestRecord, error_class_for_status
from harness.load.sending import transport_error_class

__all__ = ["install"]

#: The key of the request id in a request's Locust context.
ID_KEY: Final = "brownout_request_id"
_ERROR_TEXT_LIMIT = 300


def _with_ids(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = dict(kwargs.get("headers") or {})
        given = next((v for k, v in headers.items() if k.lower() == "x-request-id"), None)
        request_id = str(given) if given else new_request_id()
        if given is None:
            headers["X-Request-Id"] = request_id
        if not any(k.lower() == "traceparent" for k in headers):
            headers["traceparent"] = traceparent(request_id)
        kwargs["headers"] = headers
        kwargs["context"] = {**(kwargs.get("context") or {}), ID_KEY: request_id}
        return original(self, method, url, *args, **kwargs)

    return request


def install(write: Callable[[RequestRecord], None]) -> None:
    """Wrap the clients' ``request`` and record every ``events.request``."""
    for session in (HttpSession, FastHttpSession):
        session.request = _with_ids(session.request)  # type: ignore[method-assign]

    def on_request(
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_kwargs: Any,
    ) -> None:
        request_id = (context or {}).get(ID_KEY) or new_request_id()
        status = int(getattr(response, "status_code", 0) or 0)
        error: str | None = None
        if status == 0:
            error_class: str | None = transport_error_class(exception)
            error = str(exception)[:_ERROR_TEXT_LIMIT] if exception is not None else None
        elif (error_class := error_class_for_status(status)) is not None:
            error = f"HTTP {status}"
        elif exception is not None:
            error_class, error = "validation", str(exception)[:_ERROR_TEXT_LIMIT]
        latency_ms = max(0.0, float(response_time or 0.0))
        t_start = float(start_time) if start_time is not None else 0.0
        write(
            RequestRecord(
                t_start=t_start,
                t_end=t_start + latency_ms / 1000.0,
                name=str(name),
                status=status,
                ok=error_class is None,
                latency_ms=round(latency_ms, 3),
                ttft_ms=None,
                bytes=max(0, int(response_length or 0)),
                error=error,
                error_class=error_class,
                request_id=str(request_id),
                valid=None,
            )
        )

    events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
