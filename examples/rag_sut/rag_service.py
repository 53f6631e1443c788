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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from example_kit.asgi import (
    Headers,
    HttpError,
    Receive,
    Scope,
    Send,
    read_body,
    route_error,
    send_bytes,
    send_event,
    send_json,
)
from example_kit.propagation import Context, incoming
from example_kit.tracing import Tracing, chat_span_attributes, now_s
from rag_failover import FailoverPolicy
from rag_metrics import Metrics
from rag_policies import Call, Policy, PolicyOutcome
from rag_provider import AttemptResult, ProviderClient
from rag_retrieval import Passage, build_messages, retrieve

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
    provider_stream: bool = False  # stream from the provider even for plain answers
    fallback_url: str | None = None  # a second provider, used by the resilient policy
    fallback_model: str | None = None  # its model (default: ``model``)
    # Resilient load shedding: refuse at once a request whose expected queue wait exceeds this.
    shed_wait_s: float | None = None


@dataclass
class Job:
    request_id: str
    traceparent: str | None
    messages: list[dict[str, str]]
    sources: list[Passage]
    deadline: float | None
    trace_parent: Any = None  # the request's server span, parent of the worker's spans
    enqueued_at: float = 0.0  # time.time() when queued (the queue-wait span)
    # For answers streamed to the user: ("delta", text) events, then one ("end", outcome).
    events: asyncio.Queue[tuple[str, Any]] | None = None
    done: asyncio.Future[PolicyOutcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def finish(self, outcome: PolicyOutcome) -> None:
        if self.events is not None:
            self.events.put_nowait(("end", outcome))
        if not self.done.done():
            self.done.set_result(outcome)


class RagService:
    """ASGI application; the worker pool lives between lifespan startup and shutdown."""

    def __init__(self, settings: Settings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        self.metrics = Metrics()
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.in_flight = 0
        self.provider_in_flight = 0
        self.wait = WaitEstimate(settings.workers)
        self.tracing = Tracing("rag_sut")
        self._workers: list[asyncio.Task[None]] = []
        self._providers: list[ProviderClient] = []

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
        targets = [(self.settings.provider_url, self.settings.model)]
        if self.settings.fallback_url is not None:
            fallback_model = self.settings.fallback_model or self.settings.model
            targets.append((self.settings.fallback_url, fallback_model))
        self._providers = [
            ProviderClient(url, self.settings.api_key, model, self.settings.workers + 2)
            for url, model in targets
        ]
        self._workers = [
            asyncio.create_task(self._worker(), name=f"worker-{i}")
            for i in range(self.settings.workers)
        ]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        while not self.queue.empty():
            self.queue.get_nowait().finish(PolicyOutcome(None, 0, "shutting_down"))
        for provider in self._providers:
            await provider.aclose()
        self.tracing.shutdown()

    # ---- HTTP ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        routes = {"/ask": "POST", "/healthz": "GET", "/metrics": "GET"}
        if routes.get(path) != method:
            await route_error(send, path, routes.get(path))
            return
        if path == "/healthz":
            await send_json(send, 200, {"status": "ok", "policy": self.policy.name})
        elif path == "/metrics":
            body = self.metrics.render(self._gauges()).encode()
            await send_bytes(send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")
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
        context = incoming(scope)
        id_header = context.response_headers()
        try:
            question, stream = _parse_ask(await read_body(receive))
        except HttpError as exc:
            self.metrics.inc("sut_bad_requests_total")
            self.metrics.inc_labelled("sut_responses_total", "code", str(exc.status))
            await send_json(send, exc.status, {"error": exc.error, "detail": exc.detail}, id_header)
            return
        self.metrics.inc("sut_requests_total")
        parent = self.tracing.request_context(context.traceparent)
        attributes = {"request_id": context.request_id, "http.route": "/ask"}
        with self.tracing.span("POST /ask", parent, attributes) as span:
            status = await self._answer(context, question, stream, started, send, id_header)
            if span is not None:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    self.tracing.fail(span, f"HTTP {status}")
        self.metrics.inc_labelled("sut_responses_total", "code", str(status))
        self.metrics.observe_duration(time.monotonic() - started)

    async def _answer(
        self,
        context: Context,
        question: str,
        stream: bool,
        started: float,
        send: Send,
        id_header: Headers,
    ) -> int:
        """Queue the job, wait for the worker, send the answer; returns the status sent."""
        if self.settings.max_queue and self.queue.qsize() >= self.settings.max_queue:
            self.metrics.inc_labelled("sut_giveups_total", "reason", "queue_full")
            error = {"error": "queue_full", "detail": "too many requests waiting"}
            await send_json(send, 503, error, id_header)
            return 503
        shed = self.settings.shed_wait_s
        if shed is not None and self.wait.expected_s(self.queue.qsize()) > shed:
            # Admission control: this job would wait longer than its budget allows, so it
            # would fail anyway; failing now costs the user nothing and keeps the queue short.
            self.metrics.inc_labelled("sut_giveups_total", "reason", "shed")
            error = {"error": "shed", "detail": f"expected queue wait over {shed:g}s"}
            await send_json(send, 503, error, id_header)
            return 503
        with self.tracing.span("retrieval", attributes={"rag.question_chars": len(question)}):
            passages = retrieve(question)
            messages = build_messages(question, passages)
        deadline = None if self.settings.deadline_s is None else started + self.settings.deadline_s
        job = Job(context.request_id, context.traceparent, messages, passages, deadline)
        job.trace_parent = self.tracing.current_context()
        job.enqueued_at = now_s()
        if stream:
            job.events = asyncio.Queue()
        self.queue.put_nowait(job)
        try:
            if stream:
                return await self._stream_answer(job, send, id_header)
            status, payload = self._payload(job, await job.done)
        except asyncio.CancelledError:
            # uvicorn cancels handlers still waiting when the graceful-shutdown period ends;
            # answer them plainly instead of dropping the connection with a traceback.
            status = 503
            payload = {"error": "shutting_down", "detail": "the service is stopping"}
        await send_json(send, status, payload, id_header)
        return status

    async def _stream_answer(self, job: Job, send: Send, id_header: Headers) -> int:
        """Server-sent events: a ``delta`` per provider delta, then ``done`` (or ``error``).

        Nothing is sent until the first delta, so a failure before it still gets a proper
        error status (and the policy may retry); after it, only an error event can say so.
        """
        assert job.events is not None
        kind, value = await job.events.get()
        if kind == "end" and not (value.result is not None and value.result.ok):
            status, payload = self._payload(job, value)
            await send_json(send, status, payload, id_header)
            return status
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"cache-control", b"no-cache"),
            *id_header,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            while kind == "delta":
                await send_event(send, {"delta": value})
                kind, value = await job.events.get()
            status, payload = self._payload(job, value)
            await send_event(send, {"done": True, **payload} if status == 200 else payload)
        except asyncio.CancelledError:
            await send_event(send, {"error": "shutting_down", "detail": "the service is stopping"})
        await send({"type": "http.response.body", "body": b""})
        return 200

    def _payload(self, job: Job, outcome: PolicyOutcome) -> tuple[int, dict[str, Any]]:
        result = outcome.result
        if result is not None and result.ok:
            return 200, {
                "answer": result.answer,
                "sources": [{"id": p.id, "title": p.title} for p in job.sources],
                "attempts": outcome.attempts,
                "request_id": job.request_id,
            }
        reason = outcome.gave_up or "failed"
        self.metrics.inc_labelled("sut_giveups_total", "reason", reason)
        if result is None:
            detail = "no provider call was made"
        else:
            detail = f"{result.error_kind}: {result.detail}"
        return _status_for(outcome), {
            "error": reason,
            "detail": detail,
            "attempts": outcome.attempts,
            "request_id": job.request_id,
        }

    # ---- workers ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self.queue.get()
            self.in_flight += 1
            began = time.monotonic()
            self.tracing.record_interval("queue wait", job.trace_parent, job.enqueued_at, now_s())
            try:
                outcome = await self._serve(job)
            except Exception as exc:  # keep the worker alive whatever one job does
                log.exception("job %s failed", job.request_id)
                failed = AttemptResult(0, error_kind="internal", detail=type(exc).__name__)
                outcome = PolicyOutcome(failed, 0, "internal_error")
            finally:
                self.in_flight -= 1
                self.queue.task_done()
            if outcome.attempts:  # a job dropped unserved says nothing about service time
                self.wait.observe(time.monotonic() - began)
            job.finish(outcome)

    async def _serve(self, job: Job) -> PolicyOutcome:
        if job.deadline is not None and time.monotonic() >= job.deadline:
            # The caller's budget went by while the job waited: drop it rather than spend a
            # provider call on an answer nobody will wait for.
            return PolicyOutcome(None, 0, "deadline")

        forward: Callable[[str], Awaitable[None]] | None = None
        if job.events is not None:
            events = job.events

            async def forward(delta: str) -> None:
                events.put_nowait(("delta", delta))

        def call_on(index: int) -> Call:
            provider = self._providers[index]
            label = "primary" if index == 0 else "fallback"

            async def call(attempt: int, timeout_s: float) -> AttemptResult:
                self.metrics.inc("sut_provider_attempts_total")
                self.metrics.inc_labelled("sut_provider_calls_total", "provider", label)
                if attempt:
                    self.metrics.inc("sut_retries_total")
                self.provider_in_flight += 1
                name = f"chat {provider.model}"
                attributes = {**chat_span_attributes(provider.model, attempt), "provider": label}
                with self.tracing.span(name, job.trace_parent, attributes) as span:
                    traceparent = self.tracing.traceparent(job.traceparent)
                    try:
                        if job.events is not None or self.settings.provider_stream:
                            result = await provider.stream_complete(
                                job.messages,
                                job.request_id,
                                attempt,
                                timeout_s,
                                forward,
                                traceparent=traceparent,
                            )
                        else:
                            result = await provider.complete(
                                job.messages, job.request_id, attempt, timeout_s, traceparent
                            )
                    finally:
                        self.provider_in_flight -= 1
                    if not result.ok:
                        self.tracing.fail(span, result.error_kind or "failed")
                if not result.ok:
                    self.metrics.inc("sut_provider_errors_total")
                    kind = result.error_kind or "unknown"
                    self.metrics.inc_labelled("sut_provider_errors_by_kind_total", "kind", kind)
                return result

            return call

        if isinstance(self.policy, FailoverPolicy) and len(self._providers) > 1:
            before = self.policy.failovers
            calls = [call_on(i) for i in range(len(self._providers))]
            outcome = await self.policy.run_over(calls, job.deadline)
            if self.policy.failovers > before:
                self.metrics.inc("sut_failovers_total", self.policy.failovers - before)
            return outcome
        return await self.policy.run(call_on(0), job.deadline)


class WaitEstimate:
    """How long a job queued now would wait: queue depth x mean service time / workers.

    The mean is an exponentially weighted moving average of recent jobs' service times, so
    it follows a provider that slows down within a few dozen jobs."""

    def __init__(self, workers: int, weight: float = 0.1) -> None:
        self.workers = workers
        self.weight = weight
        self.service_s: float | None = None

    def observe(self, seconds: float) -> None:
        old = self.service_s
        self.service_s = seconds if old is None else old + self.weight * (seconds - old)

    def expected_s(self, queued: int) -> float:
        if self.service_s is None:
            return 0.0
        return queued * self.service_s / self.workers


def _status_for(outcome: PolicyOutcome) -> int:
    """502 when the provider failed us, 504 when time ran out, 503 when we refused to try."""
    if outcome.gave_up in ("circuit_open", "queue_full", "shutting_down"):
        return 503
    if outcome.gave_up == "deadline":
        return 504
    if outcome.result is not None and outcome.result.error_kind == "timeout":
        return 504
    if outcome.gave_up == "internal_error":
        return 500
    return 502


def _parse_ask(body: bytes) -> tuple[str, bool]:
    """The question, and whether the answer is to be streamed (``"stream": true``)."""
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
    stream = document.get("stream", False)
    if not isinstance(stream, bool):
        raise HttpError(400, "invalid_request", '"stream" must be true or false')
    return question, stream
