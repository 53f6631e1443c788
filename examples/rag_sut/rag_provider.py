"""One call to an OpenAI-compatible chat completions endpoint, reduced to an AttemptResult.

Plain (one JSON answer) or streamed (server-sent events, assembled and optionally passed on
delta by delta).

The policies decide what to do after a failure; this module only says what happened, in the
same words the load driver uses for its own requests (``http_<status>``, ``timeout``,
``connection``), plus ``bad_response`` for a 200 whose body is not a chat completion.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class AttemptResult:
    """What one provider call produced."""

    status: int  # HTTP status, 0 when no response arrived
    answer: str | None = None
    error_kind: str | None = None  # None on success
    detail: str = ""
    retry_after_s: float | None = None
    # Part of a streamed answer already went to the user: a retry would repeat it.
    committed: bool = False

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (preferred) or ``retry-after`` (seconds or date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _answer_from(body: Any) -> str | None:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def _delta_from(frame: Any) -> str | None:
    try:
        content = frame["choices"][0]["delta"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return content if isinstance(content, str) else None


OnDelta = Callable[[str], Awaitable[None]]


class ProviderClient:
    """Calls ``POST {base_url}/chat/completions`` (non-streaming) with one shared HTTP pool."""

    def __init__(self, base_url: str, api_key: str, model: str, max_connections: int) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}"},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            # The provider is reached directly (or through the fault proxy); a developer's
            # HTTP(S)_PROXY must not reroute loopback traffic.
            trust_env=False,
        )

    async def complete(
        self,
        messages: list[dict[str, str]],
        request_id: str,
        attempt: int,
        timeout_s: float,
        traceparent: str | None = None,
    ) -> AttemptResult:
        """One attempt, bounded by ``timeout_s`` in total (connect, send, wait, read)."""
        # Only the request id: x-stainless-retry-count is the OpenAI SDK's own header, and
        # setting it here would make this pipeline's retries read as the SDK's.
        headers = {"X-Request-Id": request_id}
        if traceparent is not None:
            headers["traceparent"] = traceparent
        payload = {"model": self.model, "messages": messages}
        try:
            async with asyncio.timeout(timeout_s):
                response = await self._client.post(
                    self.url, json=payload, headers=headers, timeout=timeout_s
                )
        except (TimeoutError, httpx.TimeoutException):
            return AttemptResult(0, error_kind="timeout", detail=f"no answer in {timeout_s:g}s")
        except httpx.TransportError as exc:
            return AttemptResult(0, error_kind="connection", detail=type(exc).__name__)
        if response.status_code != 200:
            return AttemptResult(
                response.status_code,
                error_kind=f"http_{response.status_code}",
                detail=response.text[:200],
                retry_after_s=parse_retry_after(response.headers),
            )
        try:
            answer = _answer_from(response.json())
        except ValueError:
            answer = None
        if answer is None:
            return AttemptResult(200, error_kind="bad_response", detail="not a chat completion")
        return AttemptResult(200, answer=answer)

    async def stream_complete(
        self,
        messages: list[dict[str, str]],
        request_id: str,
        attempt: int,
        timeout_s: float,
        on_delta: OnDelta | None = None,
        traceparent: str | None = None,
    ) -> AttemptResult:
        """One streamed attempt (``"stream": true``, server-sent events), bounded by timeout_s.

        Each content delta goes to ``on_delta`` as it arrives (when given) and into the
        assembled answer. A stream that ends without ``data: [DONE]`` is truncated, a frame
        that is not JSON is malformed, an ``error`` frame is a provider error: all failures,
        marked ``committed`` once a delta has been passed on.
        """
        headers = {"X-Request-Id": request_id}
        if traceparent is not None:
            headers["traceparent"] = traceparent
        payload = {"model": self.model, "messages": messages, "stream": True}
        parts: list[str] = []
        status = 0

        def failed(kind: str, detail: str, **extra: Any) -> AttemptResult:
            committed = bool(parts) and on_delta is not None
            return AttemptResult(
                status, error_kind=kind, detail=detail, committed=committed, **extra
            )

        try:
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "POST", self.url, json=payload, headers=headers, timeout=timeout_s
                ) as response:
                    status = response.status_code
                    if status != 200:
                        text = (await response.aread()).decode("utf-8", errors="replace")
                        return failed(
                            f"http_{status}",
                            text[:200],
                            retry_after_s=parse_retry_after(response.headers),
                        )
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue  # comments, event names, blank separators
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return AttemptResult(200, answer="".join(parts))
                        try:
                            frame = json.loads(data)
                        except ValueError:
                            return failed("malformed_frame", data[:200])
                        if isinstance(frame, dict) and "error" in frame:
                            return failed("stream_error", json.dumps(frame["error"])[:200])
                        delta = _delta_from(frame)
                        if delta:
                            parts.append(delta)
                            if on_delta is not None:
                                await on_delta(delta)
                    return failed("stream_truncated", f"ended after {len(parts)} deltas, no [DONE]")
        except (TimeoutError, httpx.TimeoutException):
            return failed("timeout", f"stream not finished in {timeout_s:g}s")
        except httpx.TransportError as exc:
            return failed("connection", type(exc).__name__)

    async def aclose(self) -> None:
        await self._client.aclose()
