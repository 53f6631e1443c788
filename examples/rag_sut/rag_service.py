"""The RAG service as a raw ASGI app: /ask behind a worker queue, /healthz, /metrics.

Shape of the pipeline, chosen because it is where brownouts live: a request is retrieved and
prompted at once, then queued for one of N workers that call the provider under the retry
policy. A slow or failing provider therefore shows up as queue depth and waiting time, not only
as errors, and a retry policy that multiplies attempts also multiplies the time each worker
is busy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from rag_metrics import Metrics
from rag_policies import Policy, PolicyOutcome
from rag_provider import AttemptResult, ProviderClient
from rag_retrieval import Passage, build_messages, retrieve

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
MAX_QUESTION_CHARS = 4000

log = logging.getLogger("rag_sut")


@dataclass(frozen=True)
class Settings:
    provider_url: str
    api_key: str
    model: str
    workers: int
    timeout_s: float
    max_queue: int  # 0: unbounded
    deadline_s: float | None  # whole-request budget from arrival; None: no deadline


@dataclass
class Job:
    request_id: str
    messages: list[dict[str, str]]
    sources: list[Passage]
    deadline: float | None
    done: asyncio.Future[PolicyOutcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class HttpError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


class RagService:
    """ASGI application; the worker pool lives between lifespan startup and shutdown."""

    def __init__(self, settings: Settings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        self.metrics = Metrics()
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.in_flight = 0
        self.provider_in_flight = 0
        self._workers: list[asyncio.Task[None]] = []
        self._provider: ProviderClient | None = None

    # ---- ASGI entry ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self._provider = ProviderClient(
            self.settings.provider_url,
            self.settings.api_key,
            self.settings.model,
            max_connections=self.settings.workers + 2,
        )
        self._workers = [
            asyncio.create_task(self._worker(), name=f"worker-{i}")
            for i in range(self.settings.workers)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self.queue.empty():
            job = self.queue.get_nowait()
            if not job.done.done():
                job.done.cancel()
        if self._provider is not None:
            await self._provider.aclose()

    # ---- HTTP ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        routes = {"/ask": "POST", "/healthz": "GET", "/metrics": "GET"}
        if path not in routes:
            await _send_json(send, 404, {"error": "not_found", "detail": f"no route {path}"})
            return
        if method != routes[path]:
            await _send_json(
                send,
                405,
                {"error": "method_not_allowed", "detail": f"{path} accepts {routes[path]}"},
                extra_headers=[(b"allow", routes[path].encode())],
            )
            return
        if path == "/healthz":
            await _send_json(send, 200, {"status": "ok", "policy": self.policy.name})
        elif path == "/metrics":
            body = self.metrics.render(self._gauges()).encode()
            await _send(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
        else:
            await self._ask(scope, receive, send)

    def _gauges(self) -> dict[str, float]:
        return {
            "sut_queue_depth": float(self.queue.qsize()),
            "sut_in_flight": float(self.in_flight),
            "sut_provider_in_flight": float(self.provider_in_flight),
            "sut_workers": float(len(self._workers)),
            "sut_circuit_open": 0.0,
            "sut_retry_budget_tokens": 0.0,
            **self.policy.gauges(),
        }

    async def _ask(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        id_header = [(b"x-request-id", request_id.encode("latin-1", errors="replace"))]
        try:
            question = _parse_question(await _read_body(receive))
        except HttpError as exc:
            self.metrics.inc("sut_bad_requests_total")
            self.metrics.inc_labelled("sut_responses_total", "code", str(exc.status))
            await _send_json(
                send, exc.status, {"error": exc.error, "detail": exc.detail}, id_header
            )
            return
        self.metrics.inc("sut_requests_total")
        try:
            status, payload = await self._answer(request_id, question, started)
        except asyncio.CancelledError:
            # uvicorn cancels handlers still waiting when the graceful-shutdown period ends;
            # answer them plainly instead of dropping the connection with a traceback.
            status, payload = 503, {"error": "shutting_down", "detail": "the service is stopping"}
        self.metrics.inc_labelled("sut_responses_total", "code", str(status))
        self.metrics.inc("sut_request_duration_seconds_sum", time.monotonic() - started)
        self.metrics.inc("sut_request_duration_seconds_count")
        await _send_json(send, status, payload, id_header)

    async def _answer(
        self, request_id: str, question: str, started: float
    ) -> tuple[int, dict[str, Any]]:
        passages = retrieve(question)
        deadline = None if self.settings.deadline_s is None else started + self.settings.deadline_s
        job = Job(request_id, build_messages(question, passages), passages, deadline)
        if self.settings.max_queue and self.queue.qsize() >= self.settings.max_queue:
            self.metrics.inc_labelled("sut_giveups_total", "reason", "queue_full")
            return 503, {"error": "queue_full", "detail": "too many requests waiting"}
        self.queue.put_nowait(job)
        outcome = await job.done
        sources = [{"id": p.id, "title": p.title} for p in job.sources]
        result = outcome.result
        if result is not None and result.ok:
            return 200, {
                "answer": result.answer,
                "sources": sources,
                "attempts": outcome.attempts,
                "request_id": request_id,
            }
        reason = outcome.gave_up or "failed"
        self.metrics.inc_labelled("sut_giveups_total", "reason", reason)
        status = _status_for(outcome)
        if result is None:
            detail = "no provider call was made"
        else:
            detail = f"{result.error_kind}: {result.detail}"
        return status, {
            "error": reason,
            "detail": detail,
            "attempts": outcome.attempts,
            "request_id": request_id,
        }

    # ---- workers ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self.queue.get()
            self.in_flight += 1
            try:
                outcome = await self._serve(job)
            except Exception as exc:  # keep the worker alive whatever one job does
                log.exception("job %s failed", job.request_id)
                failed = AttemptResult(0, error_kind="internal", detail=type(exc).__name__)
                outcome = PolicyOutcome(failed, 0, "internal_error")
            finally:
                self.in_flight -= 1
                self.queue.task_done()
            if not job.done.done():
                job.done.set_result(outcome)

    async def _serve(self, job: Job) -> PolicyOutcome:
        if job.deadline is not None and time.monotonic() >= job.deadline:
            # The caller's budget went by while the job waited: drop it rather than spend a
            # provider call on an answer nobody will wait for.
            return PolicyOutcome(None, 0, "deadline")

        async def call(attempt: int, timeout_s: float) -> AttemptResult:
            assert self._provider is not None
            self.metrics.inc("sut_provider_attempts_total")
            if attempt:
                self.metrics.inc("sut_retries_total")
            self.provider_in_flight += 1
            try:
                result = await self._provider.complete(
                    job.messages, job.request_id, attempt, timeout_s
                )
            finally:
                self.provider_in_flight -= 1
            if not result.ok:
                self.metrics.inc("sut_provider_errors_total")
                kind = result.error_kind or "unknown"
                self.metrics.inc_labelled("sut_provider_errors_by_kind_total", "kind", kind)
            return result

        return await self.policy.run(call, job.deadline)


def _status_for(outcome: PolicyOutcome) -> int:
    """502 when the provider failed us, 504 when time ran out, 503 when we refused to try."""
    if outcome.gave_up in ("circuit_open", "queue_full"):
        return 503
    if outcome.gave_up == "deadline":
        return 504
    if outcome.result is not None and outcome.result.error_kind == "timeout":
        return 504
    if outcome.gave_up == "internal_error":
        return 500
    return 502


def _parse_question(body: bytes) -> str:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HttpError(400, "invalid_json", f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise HttpError(400, "invalid_request", 'expected a JSON object like {"question": "..."}')
    question = document.get("question")
    if not isinstance(question, str) or not question.strip():
        raise HttpError(400, "invalid_request", '"question" must be a non-empty string')
    if len(question) > MAX_QUESTION_CHARS:
        raise HttpError(400, "invalid_request", f'"question" exceeds {MAX_QUESTION_CHARS} chars')
    return question


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(400, "disconnected", "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HttpError(413, "too_large", f"body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            text = bytes(value).decode("latin-1").strip()
            return text or None
    return None


async def _send_json(
    send: Send,
    status: int,
    payload: dict[str, Any],
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    await _send(send, status, body, b"application/json", extra_headers)


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
