"""The lean send path: brownout's own requests straight on geventhttpclient's ``HTTPClient``.

Runs ONLY inside the Locust process (imported by harness.load.sending). ``FastHttpSession.request``
wraps each request in layers brownout does not use: a cookie jar consulted twice per request
(brownout's users never receive cookies from an LLM endpoint, yet pay for the look-ups), a
``CompatRequest`` and its URL parsed per request, redirect and retry loops, and a
``ResponseContextManager`` copied from the response to fire ``events.request`` on exit. Here the
same client the session holds (its ``LocustUserAgent``'s connection pool, so the same sockets,
timeouts and concurrency) is called directly, with the target URL parsed once, and
``events.request`` is fired by brownout itself with the request_meta Locust would have built, so
Locust's statistics, ``--csv``, the web UI and the workers' stats reports are unchanged.

Exactly the same requests reach the wire (the same headers in the same order: the session's
header rules are applied in the same sequence), and every case the direct call does not
cover is handed back to the session's own machinery, so the behaviour stays the session's:

- a response that sets a cookie: the cookie goes into the session's jar as before, and while
  the jar holds any cookie the user sends through ``FastHttpSession`` (which adds them);
- a redirect: followed by the session's user agent from there (same limit, same rules);
- a status the user agent would reject, or a transport error: the same error response.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from geventhttpclient.client import HTTPClient
from geventhttpclient.url import URL
from locust.contrib.fasthttp import (
    FAILURE_EXCEPTIONS,
    ErrorResponse,
    FastHttpSession,
    FastResponse,
    LocustBadStatusCode,
)

__all__ = ["LeanSession", "Report", "lean_session"]

#: FastHttpSession._build_url's test for an absolute URL.
_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)
#: Distinct URLs whose parse is kept (dataset rows can make paths unbounded).
_TARGET_CACHE = 1024
_ATTRIBUTE = "_brownout_lean"

#: Fires the request's ``events.request`` with its outcome (None: success, else the failure).
Report = Callable[[BaseException | None], None]


class LeanSession:
    """The direct path for one user's ``FastHttpSession``: its client pool, event and rules."""

    def __init__(self, session: FastHttpSession) -> None:
        self.session = session
        self.agent = session.client
        self.event = session.request_event
        self._targets: dict[str, tuple[HTTPClient, str]] = {}

    def usable(self) -> bool:
        """Whether the direct path sends what the session would: no cookie to add (an emptied
        jar may keep empty dicts: then the session is used, which is merely slower)."""
        return not self.session.cookiejar._cookies  # type: ignore[attr-defined]

    def _target(self, url: str) -> tuple[HTTPClient, str]:
        target = self._targets.get(url)
        if target is None:
            split = URL(url)
            # quoted_uri is what LocustUserAgent._urlopen sends (percent-encoded).
            uri = getattr(split, "quoted_uri", split.request_uri)
            target = (self.agent.clientpool.get_client(split), uri)
            if len(self._targets) >= _TARGET_CACHE:
                self._targets.clear()
            self._targets[url] = target
        return target

    def request(
        self,
        method: str,
        path: str,
        name: str,
        payload: bytes | None,
        headers: dict[str, str],
    ) -> tuple[FastResponse, Report]:
        """Send one request as ``FastHttpSession.request(method, path, name=name, json=...,
        headers=headers, catch_response=True, stream=True)`` would (``payload`` is the JSON
        body already encoded, None for no body); return the response (an ``ErrorResponse``
        with ``error`` when none came) and the function that reports it to Locust."""
        session, agent = self.session, self.agent
        url = path if _ABSOLUTE.match(path) else f"{session.base_url}{path}"
        start_time = time.time()
        user = session.user
        context: dict[str, Any] = {**user.context()} if user is not None else {}
        # FastHttpSession.request's header rules, in its order (dict order is wire order).
        if session.auth_header:
            headers["Authorization"] = session.auth_header
        if "Accept-Encoding" not in headers and "accept-encoding" not in headers:
            headers["Accept-Encoding"] = "gzip, deflate, br"
        if payload is not None:
            if "Content-Type" not in headers and "content-type" not in headers:
                headers["Content-Type"] = "application/json"
            if "Accept" not in headers and "accept" not in headers:
                headers["Accept"] = "application/json"
        # UserAgent.urlopen: its default headers, then the request's.
        sent_headers = agent.default_headers.copy()
        sent_headers.update(headers)
        verb = method.upper()
        client, uri = self._target(url)
        started = time.perf_counter()
        response: FastResponse
        try:
            raw = client.request(verb, uri, body=payload, headers=sent_headers)
        except FAILURE_EXCEPTIONS as exc:
            response = ErrorResponse(self._compat_request(url, verb, sent_headers, payload), exc)
        else:
            response = self._received(raw, url, verb, sent_headers, payload)
        response_time = (time.perf_counter() - started) * 1000.0
        length = 0
        # stream=True: the length is the Content-Length header's, the body is not fetched.
        if response.headers and "content-length" in response.headers:
            length = int(response.headers["content-length"])  # type: ignore[arg-type]
        fire = self.event.fire

        def report(failure: BaseException | None) -> None:
            fire(
                request_type=method,
                name=name or path,
                context=context,
                response=response,
                exception=failure,
                start_time=start_time,
                url=url,
                response_length=length,
                response_time=response_time,
            )

        return response, report

    def _compat_request(self, url: str, verb: str, headers: Any, payload: bytes | None) -> Any:
        return self.agent._make_request(url, method=verb, headers=headers, payload=payload)

    def _received(
        self, raw: Any, url: str, verb: str, headers: Any, payload: bytes | None
    ) -> FastResponse:
        """UserAgent.urlopen's handling of a response: cookies, status check, redirects."""
        agent = self.agent
        response: FastResponse = agent.response_type(raw, sent_request=raw._sent_request)
        request = None
        if "set-cookie" in raw or "set-cookie2" in raw:
            request = self._compat_request(url, verb, headers, payload)
            response._request = request
            self.session.cookiejar.extract_cookies(response, request)  # type: ignore[arg-type]
        status = raw.get_code()
        if status not in agent.valid_response_codes:
            error = LocustBadStatusCode(url, code=status)
            raw.release()
            response.error = error  # type: ignore[attr-defined]
            return response
        location = raw.get("location")
        if (
            agent.max_redirects > 0
            and status in agent.redirect_response_codes
            and isinstance(location, str)
        ):
            # The user agent follows it from here, with the redirects it has left.
            if request is None:
                request = self._compat_request(url, verb, headers, payload)
            raw.release()
            try:
                request.redirect(status, location)
            except FAILURE_EXCEPTIONS as exc:
                return ErrorResponse(request, exc)
            followed: FastResponse = self.session._send_request_safe_mode(
                request.method,
                request.url,
                payload=request.payload,
                headers=request.headers,
                max_redirects=agent.max_redirects - 1,
            )
            return followed
        return response


def lean_session(session: FastHttpSession) -> LeanSession:
    """The session's lean path, made on first use and kept with the session."""
    lean: LeanSession | None = getattr(session, _ATTRIBUTE, None)
    if lean is None:
        lean = LeanSession(session)
        setattr(session, _ATTRIBUTE, lean)
    return lean
