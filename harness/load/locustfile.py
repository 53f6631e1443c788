"""The locustfile: runs ONLY inside the Locust subprocess (``python -m locust -f <this file>``).

This is the one module of brownout allowed to import Locust (and so gevent, which Locust
monkey-patches into the interpreter); nothing in the harness imports it. It reads the
LoadConfig named by ``BROWNOUT_LOAD_CONFIG``, sends the configured request with a fresh
``X-Request-Id`` per request, judges the body with the validators, and appends one flushed
line per request to requests.jsonl. Recording is done here, around each request, rather than
in an ``events.request`` listener, because only here are the request id and the validation
verdict known together with the response.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FAILURE_EXCEPTIONS
from locust.env import Environment

from harness.load.config import CONFIG_ENV_VAR, LoadConfig, LoadConfigError, read_load_config
from harness.load.health import LoadHealthSample
from harness.load.records import RequestLogWriter, RequestRecord, error_class_for_status
from harness.load.validators import check_body

_ERROR_TEXT_LIMIT = 300
_READ_SIZE = 64 * 1024


def _load_config() -> LoadConfig:
    path = os.environ.get(CONFIG_ENV_VAR)
    if not path:
        sys.exit(f"brownout locustfile: {CONFIG_ENV_VAR} must name a LoadConfig file; it is unset")
    try:
        return read_load_config(Path(path))
    except LoadConfigError as exc:
        sys.exit(f"brownout locustfile: {exc}")


CONFIG = _load_config()
_WRITER = RequestLogWriter(Path(CONFIG.requests_file))
_user_numbers = itertools.count()
_requests_written = 0
_health_greenlet: gevent.Greenlet | None = None


def _sample_health(environment: Environment, path: Path, interval_s: float) -> None:
    """Every interval: this process's CPU, users, requests so far and the loop's wake-up lag."""
    process = psutil.Process()
    process.cpu_percent(None)  # the first reading only starts the measurement
    with path.open("a", encoding="utf-8") as handle:
        while True:
            asleep = time.perf_counter()
            gevent.sleep(interval_s)
            lag_ms = max(0.0, (time.perf_counter() - asleep - interval_s) * 1000.0)
            runner = environment.runner
            sample = LoadHealthSample(
                t=time.time(),
                cpu_percent=float(process.cpu_percent(None)),
                users=int(runner.user_count) if runner is not None else 0,
                requests=_requests_written,
                lag_ms=round(lag_ms, 3),
            )
            handle.write(sample.to_json() + "\n")
            handle.flush()


def _start_health(environment: Environment, **_kwargs: Any) -> None:
    global _health_greenlet
    if CONFIG.health_file is not None and _health_greenlet is None:
        path = Path(CONFIG.health_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        _health_greenlet = gevent.spawn(_sample_health, environment, path, CONFIG.health_interval_s)


def _stop(**_kwargs: Any) -> None:
    # The request log stays open: on SIGTERM Locust fires `quitting` while users may still be
    # finishing requests (--stop-timeout), and those must be recorded too. Every line is
    # already flushed, so process exit loses nothing.
    if _health_greenlet is not None:
        _health_greenlet.kill(block=False)


# Locust's EventHook.add_listener is unannotated.
events.test_start.add_listener(_start_health)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_stop)  # type: ignore[no-untyped-call]


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


def _describe(error: BaseException | None) -> str:
    error = _root_cause(error)
    if error is None:
        return "no response"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:_ERROR_TEXT_LIMIT]


def _read_body(response: Any, started: float) -> tuple[bytes, float | None, BaseException | None]:
    """The body, the time to its first byte and any error reading it.

    The first byte is read on its own, so the time to it is when the server sent something,
    then the rest to the end. A body that breaks off (reset, truncated chunking, read timeout)
    returns what arrived and the error, so the record says what happened.
    """
    chunks: list[bytes] = []
    ttft_ms: float | None = None
    try:
        first = response.stream.read(1)
        if first:
            ttft_ms = (time.perf_counter() - started) * 1000.0
            chunks.append(first)
            while chunk := response.stream.read(_READ_SIZE):
                chunks.append(chunk)
    except FAILURE_EXCEPTIONS as exc:
        # The failed read dropped the connection but kept what it had parsed; collect it so
        # `bytes` tells how far the body got.
        with contextlib.suppress(Exception):
            chunks.append(response.stream.read())
        return b"".join(chunks), ttft_ms, exc
    finally:
        with contextlib.suppress(Exception):
            response.release()
    return b"".join(chunks), ttft_ms, None


def _stats_message(
    error_class: str, transport_error: BaseException | None, error: str | None
) -> str:
    if error_class == "validation":
        return f"validation: {error}"
    if error_class in ("timeout", "connection"):
        return f"{error_class}: {type(_root_cause(transport_error)).__name__}"
    return error_class


class BrownoutUser(FastHttpUser):
    """A closed-loop user: send the request, wait ``wait_s``, repeat."""

    host = CONFIG.host
    wait_time = constant(CONFIG.wait_s)
    network_timeout = CONFIG.request.timeout_s
    connection_timeout = CONFIG.request.timeout_s
    # Retrying is the SUT's business; the load generator must count each attempt once.
    max_retries = 0

    def on_start(self) -> None:
        # One random stream per user, numbered in spawn order, so a seeded run draws the same
        # bodies in the same order for each user whatever the interleaving of users.
        number = next(_user_numbers)
        seed = None if CONFIG.seed is None else f"{CONFIG.seed}/{number}"
        self.rng = random.Random(seed)
        # Accept every status as a response: by default geventhttpclient turns 4xx/5xx into an
        # exception and drops the body, and the error body is part of what we record.
        # (A per-user override of a ClassVar, hence the ignore.)
        self.client.client.valid_response_codes = frozenset(range(100, 600))  # type: ignore[misc]

    def _body(self) -> Any:
        bodies = CONFIG.request.bodies
        return self.rng.choice(bodies) if bodies else CONFIG.request.json

    @task
    def send_request(self) -> None:
        global _requests_written
        spec = CONFIG.request
        request_id = uuid.uuid4().hex
        headers = {**spec.headers, "X-Request-Id": request_id}
        body_out = self._body()
        t_start = time.time()
        started = time.perf_counter()
        if not any(k.lower() == "accept-encoding" for k in headers):
            # The body is read raw (below), so ask for it uncompressed.
            headers["Accept-Encoding"] = "identity"
        # Always read the body ourselves (stream=True): then a body that breaks off is seen as
        # an error here, where FastHttpSession would hand back the partial body as if complete.
        with self.client.request(
            spec.method,
            spec.path,
            name=spec.label,
            json=body_out,
            headers=headers,
            catch_response=True,
            stream=True,
        ) as response:
            status = int(response.status_code or 0)
            # Only responses that never arrived carry an `error` attribute.
            transport_error: BaseException | None = getattr(response, "error", None)
            body, ttft_ms, body_error = b"", None, None
            if status:
                body, ttft_ms, body_error = _read_body(response, started)
                if not spec.stream:
                    ttft_ms = None  # only meaningful, and only promised, for streamed answers
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
                    valid, reason = check_body(CONFIG.validators, body)
                    if valid is False:
                        error_class, error = "validation", reason
            if error_class is None:
                response.success()
            else:
                # Locust keys its error table by message: keep it low-cardinality (no request
                # ids or bodies) so a long run does not grow it without bound.
                response.failure(_stats_message(error_class, transport_error, error))
        _WRITER.write(
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
            )
        )
        _requests_written += 1
