"""The async job pipeline: ``POST /jobs`` queues a job that a worker runs against the provider.

``POST /jobs {"text": "...", "priority": "interactive" | "batch", "idempotency_key": "...",
"wait": true}`` queues the job and, with ``wait`` (the default), answers once it is done (200)
or after ``--wait-s`` (202 with its id; ``GET /jobs/ID`` reads it later).

- **naive**: one FIFO queue (priorities ignored), no lease heartbeat (a job running longer than
  the lease is delivered again to another worker and runs twice), up to 5 immediate retries
  inside the worker that holds the job, no idempotency (the same key twice is two jobs).
- **resilient**: interactive jobs before batch ones; workers extend their lease while working
  (no duplicate runs while the worker lives); a failed attempt goes to a *separate* retry queue
  with its own single worker and exponential backoff (retries cannot starve fresh jobs), at
  most 3 attempts; an idempotency key already seen returns (or waits for) the first job.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
from example_kit.asgi import (
    HttpError,
    Receive,
    Scope,
    Send,
    read_json_object,
    route_error,
    send_bytes,
    send_json,
    string_field,
)
from example_kit.metrics import CONTENT_TYPE, exposition, new_registry
from example_kit.propagation import incoming
from job_broker import Broker, Job
from prometheus_client import Counter, Gauge, Summary

PRIORITIES = {"interactive": 0, "batch": 1}


@dataclass(frozen=True)
class Settings:
    provider_url: str
    api_key: str
    model: str
    mode: str
    workers: int
    lease_s: float
    wait_s: float
    timeout_s: float
    seed: int | None = None


class Attempt(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status in (0, 408, 409, 429) or self.status >= 500


class JobMetrics:
    def __init__(self) -> None:
        self.registry = r = new_registry()
        self.queue_depth = Gauge("sut_queue_depth", "Jobs waiting (main queue).", registry=r)
        self.retry_depth = Gauge("sut_retry_queue_depth", "Jobs waiting to retry.", registry=r)
        self.in_flight = Gauge("sut_in_flight", "Jobs being run by a worker.", registry=r)
        self.submitted = Counter("sut_jobs_submitted", "Jobs accepted.", ["priority"], registry=r)
        self.completed = Counter(
            "sut_jobs_completed", "Jobs done, by outcome.", ["outcome"], registry=r
        )
        self.executions = Counter("sut_job_executions", "Deliveries run by a worker.", registry=r)
        self.duplicates = Counter(
            "sut_duplicate_executions", "Runs of a job another run already finished.", registry=r
        )
        self.redeliveries = Gauge(
            "sut_redeliveries", "Jobs delivered again (lease expired).", registry=r
        )
        self.deduplicated = Counter(
            "sut_jobs_deduplicated", "Submissions answered by an earlier job's key.", registry=r
        )
        self.attempts = Counter("sut_provider_attempts", "Provider calls.", registry=r)
        self.retries = Counter("sut_retries", "Provider calls that were retries.", registry=r)
        self.duration = Summary("sut_request_duration_seconds", "POST /jobs time.", registry=r)


class JobService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = JobMetrics()
        self.broker = Broker(settings.lease_s)
        self.retry_queue: asyncio.Queue[Job] = asyncio.Queue()
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.by_key: dict[str, Job] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._rng = random.Random(settings.seed)

    @property
    def resilient(self) -> bool:
        return self.settings.mode == "resilient"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self._stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    def _start(self) -> None:
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {self.settings.api_key}"},
            limits=httpx.Limits(max_connections=4 * self.settings.workers + 8),
            trust_env=False,
        )
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.settings.workers)]
        self._tasks.append(asyncio.create_task(self._reaper()))
        if self.resilient:
            self._tasks.append(asyncio.create_task(self._retry_worker()))

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path.startswith("/jobs/") and method == "GET":
            job = self.jobs.get(path.removeprefix("/jobs/"))
            if job is None:
                await send_json(send, 404, {"error": "not_found", "detail": "no such job"})
            else:
                await send_json(send, 200, self._view(job))
            return
        routes = {"/jobs": "POST", "/healthz": "GET", "/metrics": "GET"}
        if routes.get(path) != method:
            await route_error(send, path, routes.get(path))
        elif path == "/healthz":
            await send_json(send, 200, {"status": "ok", "mode": self.settings.mode})
        elif path == "/metrics":
            self._gauges()
            await send_bytes(send, 200, exposition(self.metrics.registry), CONTENT_TYPE)
        else:
            await self._submit(scope, receive, send)

    def _gauges(self) -> None:
        self.metrics.queue_depth.set(self.broker.depth())
        self.metrics.retry_depth.set(self.retry_queue.qsize())
        self.metrics.redeliveries.set(self.broker.redeliveries)

    async def _submit(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        context = incoming(scope)
        headers = context.response_headers()
        try:
            document = await read_json_object(receive)
            text = string_field(document, "text")
            key = string_field(document, "idempotency_key", required=False)
            priority_name = document.get("priority", "interactive")
            if priority_name not in PRIORITIES:
                raise HttpError(400, "invalid_request", '"priority" must be interactive or batch')
            wait = document.get("wait", True)
            if not isinstance(wait, bool):
                raise HttpError(400, "invalid_request", '"wait" must be true or false')
        except HttpError as exc:
            await send_json(send, exc.status, {"error": exc.error, "detail": exc.detail}, headers)
            return
        assert text is not None
        job = self.by_key.get(key) if key is not None and self.resilient else None
        if job is not None:
            self.metrics.deduplicated.inc()
        else:
            priority = PRIORITIES[priority_name] if self.resilient else 0
            job = Job(
                uuid.uuid4().hex, text, priority, context.request_id, context.traceparent, key
            )
            self._remember(job)
            self.metrics.submitted.labels(priority=priority_name).inc()
            self.broker.put(job)
        if not wait:
            await send_json(send, 202, self._view(job), headers)
            return
        try:
            await asyncio.wait_for(asyncio.shield(job.done), self.settings.wait_s)
        except TimeoutError:
            await send_json(send, 202, self._view(job), headers)
            return
        status = 200 if job.done.result().get("ok") else 502
        await send_json(send, status, self._view(job), headers)
        self.metrics.duration.observe(time.monotonic() - started)

    def _remember(self, job: Job) -> None:
        self.jobs[job.id] = job
        if job.idempotency_key is not None:
            self.by_key[job.idempotency_key] = job
        while len(self.jobs) > 20_000:
            _, old = self.jobs.popitem(last=False)
            if old.idempotency_key is not None and self.by_key.get(old.idempotency_key) is old:
                del self.by_key[old.idempotency_key]

    def _view(self, job: Job) -> dict[str, Any]:
        view: dict[str, Any] = {
            "job_id": job.id,
            "status": "done" if job.done.done() else "queued",
            "attempts": job.attempts,
            "deliveries": job.deliveries,
            "request_id": job.request_id,
        }
        if job.done.done():
            view.update(job.done.result())
        return view

    # ---- workers -----------------------------------------------------------------------------

    async def _reaper(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            self.broker.reap()

    async def _worker(self) -> None:
        while True:
            token, job = await self.broker.take()
            self.metrics.executions.inc()
            self.metrics.in_flight.inc()
            heartbeat = asyncio.create_task(self._heartbeat(token)) if self.resilient else None
            try:
                if self.resilient:
                    await self._run_once_then_isolate(job)
                else:
                    await self._run_with_immediate_retries(job)
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()
                self.broker.ack(token)
                self.metrics.in_flight.dec()

    async def _heartbeat(self, token: int) -> None:
        # Extend first: this task's first step is already queued when the worker's provider
        # call starts, so a loop stall in that call (a first connection, a lazy import) cannot
        # let the reaper see the lease expire before the heartbeat has run once.
        while True:
            self.broker.extend(token)
            await asyncio.sleep(self.settings.lease_s / 5)

    async def _run_with_immediate_retries(self, job: Job) -> None:
        last: Attempt | None = None
        for _ in range(5):
            try:
                self._finish(job, {"ok": True, "result": await self._call(job)})
                return
            except Attempt as exc:
                last = exc
        assert last is not None
        self._finish(job, {"ok": False, "error": str(last)})

    async def _run_once_then_isolate(self, job: Job) -> None:
        try:
            self._finish(job, {"ok": True, "result": await self._call(job)})
        except Attempt as exc:
            if exc.retryable and job.attempts < 3:
                job.not_before = time.monotonic() + self._backoff(job.attempts)
                self.retry_queue.put_nowait(job)
            else:
                self._finish(job, {"ok": False, "error": str(exc)})

    def _backoff(self, attempts: int) -> float:
        return self._rng.uniform(0.0, min(2.0, 0.2 * 2**attempts))

    async def _retry_worker(self) -> None:
        """The one worker for retries: a storm of them cannot take the main workers."""
        while True:
            job = await self.retry_queue.get()
            delay = job.not_before - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if job.done.done():
                continue
            self.metrics.in_flight.inc()
            try:
                await self._run_once_then_isolate(job)
            finally:
                self.metrics.in_flight.dec()

    def _finish(self, job: Job, outcome: dict[str, Any]) -> None:
        if job.done.done():
            self.metrics.duplicates.inc()  # another delivery finished first: this run was waste
            return
        job.done.set_result(outcome)
        self.metrics.completed.labels(outcome="ok" if outcome["ok"] else "failed").inc()

    async def _call(self, job: Job) -> str:
        assert self._client is not None
        if job.attempts:
            self.metrics.retries.inc()
        job.attempts += 1
        self.metrics.attempts.inc()
        headers = {"X-Request-Id": job.request_id}
        if job.traceparent is not None:
            headers["traceparent"] = job.traceparent
        payload = {
            "model": self.settings.model,
            "messages": [{"role": "user", "content": f"Summarise: {job.text}"}],
        }
        try:
            response = await self._client.post(
                self.settings.provider_url.rstrip("/") + "/chat/completions",
                json=payload,
                headers=headers,
                timeout=self.settings.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise Attempt(0, "timeout") from exc
        except httpx.TransportError as exc:
            raise Attempt(0, type(exc).__name__) from exc
        if response.status_code != 200:
            raise Attempt(response.status_code, f"http_{response.status_code}")
        with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
            content = response.json()["choices"][0]["message"]["content"]
            if isinstance(content, str):
                return content
        raise Attempt(502, "bad_response")
