"""Sending one request and recording it: runs ONLY inside the Locust process.

Imported by the locustfile alone (it uses gevent and Locust's FastHttpSession). Both traffic
models send through ``send``: a closed-model user calls it in its task, the open-model
dispatcher in one greenlet per arrival. Recording is done here, around each request, rather
than in an ``events.request`` listener, because only here are the request id, the intended
start and the validation verdict known together with the response.

The request goes out on harness.load.lean (geventhttpclient directly, the same wire bytes and
the same ``events.request`` as FastHttpSession, about 60 µs of CPU less per request in the load
benchmark) unless the user holds a cookie, when it goes through ``FastHttpSession.request``.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gevent
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS, FastHttpSession
from locust.exception import CatchResponseError

from harness.load.config import LoadConfig, RequestSpec
from harness.load.ids import new_request_id, traceparent
from harness.load.lean import Report, lean_session
from harness.load.records import RequestRecord, error_class_for_status
from harness.load.validators import ContainsValidator, JsonFieldValidator, check_body
from harness.redact import resolve_references
from harness.scenario.dataset import fill

__all__ = ["Rows", "Sender", "transport_error_class"]

_ERROR_TEXT_LIMIT = 300
_READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class Rows:
    """The dataset's rows (empty without a dataset) and how to pick one."""

    rows: Sequence[dict[str, Any]]
    order: str

    def pick(self, number: int, rng: random.Random) -> dict[str, Any] | None:
        if not self.rows:
            return None
        if self.order == "random":
            return rng.choice(self.rows)
        return self.rows[number % len(self.rows)]


@dataclass(frozen=True)
class _Prepared:
    """What a template's requests share, worked out once rather than per request."""

    #: The template's headers, secret references resolved (the environment is the process's).
    headers: dict[str, str]
    #: The load's validators, then the template's own.
    validators: tuple[JsonFieldValidator | ContainsValidator, ...]
    sets_accept_encoding: bool
    #: Each of the template's bodies (by id) as FastHttpSession encodes it: json.dumps, UTF-8.
    encoded: dict[int, bytes]

    @classmethod
    def of(cls, spec: RequestSpec, config: LoadConfig) -> _Prepared:
        bodies = [*spec.bodies, spec.json]
        return cls(
            headers=resolve_references(spec.headers),
            validators=(*config.validators, *spec.validators),
            sets_accept_encoding=any(k.lower() == "accept-encoding" for k in spec.headers),
            encoded={id(b): json.dumps(b).encode("utf-8") for b in bodies if b is not None},
        )


class Sender:
    """Builds each request from the config (template, body, dataset row) and records it."""

    def __init__(
        self,
        config: LoadConfig,
        rows: Rows,
        write: Callable[[RequestRecord], None],
        bodies: Callable[[str, float, Any, int, bytes], None] | None = None,
        *,
        lean: bool = True,
    ):
        self.config = config
        self.rows = rows
        self.write = write
        self.bodies = bodies  # record_bodies: (request id, t_start, sent, status, received)
        self.templates = config.templates
        self.weights = [t.weight for t in self.templates]
        self._prepared = {id(t): _Prepared.of(t, config) for t in self.templates}
        #: Send on geventhttpclient directly (harness.load.lean) rather than FastHttpSession.
        self.lean = lean
        self.sent = 0
        #: Requests sent and not yet recorded (a remote worker waits for them at the end).
        self.in_flight = 0

    def choose(self, rng: random.Random) -> RequestSpec:
        if len(self.templates) == 1:
            return self.templates[0]
        return rng.choices(self.templates, self.weights)[0]

    def send(
        self,
        client: FastHttpSession,
        rng: random.Random,
        number: int,
        due: float | None = None,
    ) -> None:
        """Send request ``number``; ``due`` (open model) is when it should have started, and
        its latency is measured from then, so a late generator cannot hide the wait."""
        self.in_flight += 1
        try:
            self._send(client, rng, number, due)
        finally:
            self.in_flight -= 1

    def _send(
        self, client: FastHttpSession, rng: random.Random, number: int, due: float | None
    ) -> None:
        spec = self.choose(rng)
        row = self.rows.pick(number, rng)
        body_out = rng.choice(spec.bodies) if spec.bodies else spec.json
        # Secret values come from the environment (harness.redact), never from the file.
        prepared = self._prepared[id(spec)]
        path, headers, validators = spec.path, dict(prepared.headers), prepared.validators
        if row is not None:
            body_out, path = fill(body_out, row), fill(path, row)
            headers = fill(headers, row)
            validators = tuple(
                v.model_copy(update={"equals": fill(v.equals, row)})
                if isinstance(v, JsonFieldValidator) and v.equals is not None
                else v
                for v in validators
            )
        request_id = new_request_id()
        headers["X-Request-Id"] = request_id
        headers["traceparent"] = traceparent(request_id)
        if not (
            prepared.sets_accept_encoding
            if row is None
            else any(k.lower() == "accept-encoding" for k in headers)
        ):
            # The body is read raw (below), so ask for it uncompressed.
            headers["Accept-Encoding"] = "identity"
        now = time.time()
        started = time.perf_counter()
        lag_s = 0.0
        if due is not None:
            lag_s = max(0.0, now - due)
            started -= lag_s  # time the request from when it was due
        t_start = now - lag_s
        # Always read the body ourselves (stream=True): then a body that breaks off is seen as
        # an error here, where FastHttpSession would hand back the partial body as if complete.
        response, report = self._request(client, spec, path, body_out, headers, prepared)
        status = int(response.status_code or 0)
        # Only responses that never arrived carry an `error` attribute.
        transport_error: BaseException | None = getattr(response, "error", None)
        body, ttft_ms, itl_ms, body_error = b"", None, None, None
        if status:
            body, ttft_ms, itl_ms, body_error = _read_body(response, started, spec.stream)
        latency_ms = (time.perf_counter() - started) * 1000.0
        valid: bool | None = None
        if status == 0 or body_error is not None:
            # No response, or the body broke off: the status (if any) is kept as received.
            failure = transport_error if status == 0 else body_error
            error_class: str | None = _transport_error_class(failure)
            error: str | None = _describe(failure)
            if status:
                error = f"body cut after {len(body)} bytes: {error}"[:_ERROR_TEXT_LIMIT]
            transport_error = failure
        else:
            error_class = error_class_for_status(status)
            error = None
            if error_class is not None:
                snippet = body[:_ERROR_TEXT_LIMIT].decode("utf-8", errors="replace")
                error = f"HTTP {status}: {snippet}"
            else:
                valid, reason = check_body(validators, body)
                if valid is False:
                    error_class, error = "validation", reason
        # Locust keys its error table by message: keep it low-cardinality (no request ids or
        # bodies) so a long run does not grow it without bound.
        report(
            None
            if error_class is None
            else CatchResponseError(_stats_message(error_class, transport_error, error))
        )
        self.write(
            RequestRecord(
                t_start=t_start,
                t_end=t_start + latency_ms / 1000.0,
                name=spec.label,
                status=status,
                ok=error_class is None,
                latency_ms=round(latency_ms, 3),
                ttft_ms=None if ttft_ms is None else round(ttft_ms, 3),
                bytes=len(body),
                error=error,
                error_class=error_class,
                request_id=request_id,
                valid=valid,
                itl_ms=None if itl_ms is None else round(itl_ms, 3),
                schedule_lag_ms=None if due is None else round(lag_s * 1000.0, 3),
            )
        )
        if self.bodies is not None:
            self.bodies(request_id, t_start, body_out, status, body)
        self.sent += 1

    def _request(
        self,
        client: FastHttpSession,
        spec: RequestSpec,
        path: str,
        body_out: Any,
        headers: dict[str, str],
        prepared: _Prepared,
    ) -> tuple[Any, Report]:
        """Send the request (stream=True) and return the response and how to report it."""
        if self.lean:
            lean = lean_session(client)
            if lean.usable():
                payload = None
                if body_out is not None:
                    payload = prepared.encoded.get(id(body_out))
                    if payload is None:  # a body filled from a dataset row
                        payload = json.dumps(body_out).encode("utf-8")
                return lean.request(spec.method, path, spec.label, payload, headers)
        context = client.request(
            spec.method,
            path,
            name=spec.label,
            json=body_out,
            headers=headers,
            catch_response=True,
            stream=True,
        )
        response = context.__enter__()  # type: ignore[no-untyped-call]

        def report(failure: BaseException | None) -> None:
            if failure is None:
                response.success()
            else:
                response.failure(failure)
            context.__exit__(None, None, None)  # type: ignore[no-untyped-call]

        return response, report


def _read_body(
    response: Any, started: float, streamed: bool
) -> tuple[bytes, float | None, float | None, BaseException | None]:
    """The body, the time to its first byte, the mean gap between later chunks, any error.

    An answer not configured as streamed is read to its end in one call (neither time is
    recorded for it). For a streamed one the first byte is read on its own, so the time to it
    is when the server sent something; the rest is then read one network arrival at a time
    (what has arrived is drained before waiting again), so the gaps between arrivals are the
    stream's inter-token latency. A body that breaks off (reset, truncated chunking, read
    timeout) returns what arrived and the error, so the record says what happened.
    """
    stream = response.stream
    if not streamed:
        try:
            return stream.read(), None, None, None
        except FAILURE_EXCEPTIONS as exc:
            # The failed read dropped the connection but kept what it had parsed.
            partial = b""
            with contextlib.suppress(Exception):
                partial = stream.read()
            return partial, None, None, exc
        finally:
            with contextlib.suppress(Exception):
                response.release()
    chunks: list[bytes] = []
    ttft_ms: float | None = None
    arrivals: list[float] = []
    try:
        first = stream.read(1)
        if first:
            arrivals.append(time.perf_counter())
            ttft_ms = (arrivals[0] - started) * 1000.0
            chunks.append(first)
            buffered = getattr(stream, "_body_buffer", None)
            if streamed and buffered is not None:
                events = [arrivals[0]]  # arrivals that completed an SSE event ("\n\n")
                while True:
                    if len(buffered):
                        chunks.append(stream.read(len(buffered)))
                        if b"\n\n" in chunks[-1] and events[-1] != arrivals[-1]:
                            events.append(arrivals[-1])
                        continue
                    nxt = stream.read(1)
                    if not nxt:
                        break
                    arrivals.append(time.perf_counter())
                    chunks.append(nxt)
                    if nxt == b"\n" and chunks[-2].endswith(b"\n"):
                        events.append(arrivals[-1])
                # One SSE event may come in several network reads (chunk header, then data):
                # for an event stream the gaps that count are those between events.
                if len(events) >= 2:
                    arrivals = events
            else:
                while chunk := stream.read(_READ_SIZE):
                    chunks.append(chunk)
    except FAILURE_EXCEPTIONS as exc:
        # The failed read dropped the connection but kept what it had parsed; collect it so
        # `bytes` tells how far the body got.
        with contextlib.suppress(Exception):
            chunks.append(stream.read())
        return b"".join(chunks), ttft_ms, None, exc
    finally:
        with contextlib.suppress(Exception):
            response.release()
    itl_ms = None
    if len(arrivals) >= 2:
        itl_ms = (arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) * 1000.0
    return b"".join(chunks), ttft_ms, itl_ms, None


def _root_cause(error: BaseException | None) -> BaseException | None:
    # geventhttpclient wraps the socket error in RetriesExceeded(original=...) even with
    # max_retries = 0; follow that (and ordinary exception chaining) to what really happened.
    for _ in range(5):
        inner = getattr(error, "original", None) or getattr(error, "__cause__", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    return error


def _transport_error_class(error: BaseException | None) -> str:
    # Connect and read timeouts surface as socket timeouts; gevent's own Timeout is what a
    # gevent-level deadline raises. Everything else that left us without a response (refused,
    # reset, closed mid-response, unparsable) is a connection problem.
    if isinstance(_root_cause(error), TimeoutError | socket.timeout | gevent.Timeout):
        return "timeout"
    return "connection"


def transport_error_class(error: BaseException | None) -> str:
    """``timeout`` or ``connection`` for a request that got no response (any client: the
    requests library's timeouts are named so but derive from neither timeout class)."""
    if error is not None and "timeout" in type(_root_cause(error)).__name__.lower():
        return "timeout"
    return _transport_error_class(error)


def _describe(error: BaseException | None) -> str:
    error = _root_cause(error)
    if error is None:
        return "no response"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:_ERROR_TEXT_LIMIT]


def _stats_message(
    error_class: str, transport_error: BaseException | None, error: str | None
) -> str:
    if error_class == "validation":
        return f"validation: {error}"
    if error_class in ("timeout", "connection"):
        return f"{error_class}: {type(_root_cause(transport_error)).__name__}"
    return error_class
