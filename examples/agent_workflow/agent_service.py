"""The agent workflow service: ``POST /run`` runs research → analyse → draft for one task.

The two modes differ only in what happens after a step fails:

- **naive**: the SDK's own retries (2, its default), then the whole workflow starts over from
  the first step, up to 2 more times. Completed steps are redone (their provider calls, tool
  runs and tokens paid again), and tool arguments are read with ``json.loads``.
- **resilient**: the SDK does not retry (one layer of retries, not two); each completed step is
  checkpointed under the workflow's id, only the failed step is retried (capped exponential
  backoff with full jitter, at most 2 retries per step, never a non-retryable failure), tool
  arguments are read tolerantly, and a client that calls again with the same ``workflow_id``
  after a failure resumes from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import openai
from agent_steps import STEPS, StepCall, StepFailed, analyse, draft, research
from example_kit.asgi import (
    HttpError,
    Receive,
    Scope,
    Send,
    end_events,
    read_json_object,
    route_error,
    send_bytes,
    send_event,
    send_json,
    start_events,
    string_field,
)
from example_kit.metrics import CONTENT_TYPE, exposition, new_registry
from example_kit.propagation import Context, incoming
from example_kit.tracing import Tracing, now_s
from openai import AsyncOpenAI
from prometheus_client import Counter, Gauge, Summary


@dataclass(frozen=True)
class Settings:
    provider_url: str
    api_key: str
    model: str
    mode: str  # naive | resilient
    concurrency: int  # workflows served at once; the rest wait (sut_queue_depth)
    timeout_s: float  # one provider call, connect to last byte
    read_timeout_s: float  # longest silence inside a streamed answer
    seed: int | None = None


@dataclass
class Workflow:
    """A workflow's checkpoints: the output of every completed step."""

    outputs: dict[str, Any] = field(default_factory=dict)


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = registry = new_registry()
        self.queue_depth = Gauge(
            "sut_queue_depth", "Workflows waiting for a slot.", registry=registry
        )
        self.in_flight = Gauge("sut_in_flight", "Workflows running.", registry=registry)
        self.workflows = Counter(
            "sut_workflows", "Workflows finished, by outcome.", ["outcome"], registry=registry
        )
        self.steps = Counter("sut_steps", "Steps completed, by step.", ["step"], registry=registry)
        self.steps_redone = Counter(
            "sut_steps_redone", "Completed steps run again (naive restarts).", registry=registry
        )
        self.step_failures = Counter(
            "sut_step_failures", "Failed step attempts, by kind.", ["kind"], registry=registry
        )
        self.step_retries = Counter(
            "sut_step_retries", "Step attempts that were retries.", registry=registry
        )
        self.resumed = Counter(
            "sut_workflows_resumed", "Workflows resumed from a checkpoint.", registry=registry
        )
        self.duration = Summary(
            "sut_request_duration_seconds", "Time to answer /run.", registry=registry
        )


class AgentService:
    """ASGI app; the SDK client lives between lifespan startup and shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = AgentMetrics()
        self._client: AsyncOpenAI | None = None
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._waiting = 0
        self._checkpoints: OrderedDict[str, Workflow] = OrderedDict()
        self._rng = random.Random(settings.seed)
        self.tracing = Tracing("agent_workflow")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.close()
                    self.tracing.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    def _start(self) -> None:
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        naive = self.settings.mode == "naive"
        self._client = AsyncOpenAI(
            base_url=self.settings.provider_url,
            api_key=self.settings.api_key,
            # naive keeps the SDK's default retries under its own restarts: two layers.
            max_retries=2 if naive else 0,
            # Loopback provider: a developer's HTTP(S)_PROXY must not reroute it.
            http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        routes = {"/run": "POST", "/healthz": "GET", "/metrics": "GET"}
        path = scope["path"]
        if routes.get(path) != scope["method"]:
            await route_error(send, path, routes.get(path))
        elif path == "/healthz":
            await send_json(send, 200, {"status": "ok", "mode": self.settings.mode})
        elif path == "/metrics":
            await send_bytes(send, 200, exposition(self.metrics.registry), CONTENT_TYPE)
        else:
            await self._run(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        context = incoming(scope)
        try:
            document = await read_json_object(receive)
            task = string_field(document, "task")
            workflow_id = string_field(document, "workflow_id", required=False)
            stream = document.get("stream", False)
            if not isinstance(stream, bool):
                raise HttpError(400, "invalid_request", '"stream" must be true or false')
        except HttpError as exc:
            error = {"error": exc.error, "detail": exc.detail}
            await send_json(send, exc.status, error, context.response_headers())
            return
        assert task is not None
        workflow_id = workflow_id or context.request_id
        parent = self.tracing.request_context(context.traceparent)
        attributes = {"request_id": context.request_id, "http.route": "/run"}
        with self.tracing.span("POST /run", parent, attributes) as span:
            status = await self._answer(context, workflow_id, task, stream, send)
            if status != 200:
                self.tracing.fail(span, f"workflow failed ({status})")
        self.metrics.duration.observe(time.monotonic() - started)

    async def _answer(
        self, context: Context, workflow_id: str, task: str, stream: bool, send: Send
    ) -> int:
        """Run the workflow and send its answer (JSON, or progress events); its status."""
        progress: asyncio.Queue[dict[str, Any]] | None = asyncio.Queue() if stream else None
        # The task copies this context, so the workflow's spans are children of the request's.
        job = asyncio.create_task(self._workflow(context, workflow_id, task, progress))
        if progress is None:
            status, payload = await job
            await send_json(send, status, payload, context.response_headers())
            return status
        await start_events(send, context.response_headers())
        while not (job.done() and progress.empty()):
            getter = asyncio.create_task(progress.get())
            await asyncio.wait({getter, job}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                await send_event(send, getter.result())
            else:
                getter.cancel()
        status, payload = job.result()
        await send_event(send, {"done": True, **payload} if status == 200 else payload)
        await end_events(send)
        return status

    async def _workflow(
        self,
        context: Context,
        workflow_id: str,
        task: str,
        progress: asyncio.Queue[dict[str, Any]] | None,
    ) -> tuple[int, dict[str, Any]]:
        self._waiting += 1
        self.metrics.queue_depth.set(self._waiting)
        queued_at = now_s()
        async with self._slots:
            self.tracing.record_interval(
                "queue wait", self.tracing.current_context(), queued_at, now_s()
            )
            self._waiting -= 1
            self.metrics.queue_depth.set(self._waiting)
            self.metrics.in_flight.inc()
            try:
                if self.settings.mode == "naive":
                    outputs = await self._naive(context, task, progress)
                else:
                    outputs = await self._resilient(context, workflow_id, task, progress)
            except StepFailed as exc:
                self.metrics.workflows.labels(outcome="failed").inc()
                status = 504 if exc.kind == "timeout" else 502
                return status, {
                    "error": "workflow_failed",
                    "detail": str(exc),
                    "workflow_id": workflow_id,
                    "request_id": context.request_id,
                }
            finally:
                self.metrics.in_flight.dec()
        self.metrics.workflows.labels(outcome="completed").inc()
        return 200, {
            "answer": outputs["draft"],
            "query": outputs["research"]["query"],
            "steps": list(STEPS),
            "workflow_id": workflow_id,
            "request_id": context.request_id,
        }

    def _call(self, context: Context) -> StepCall:
        assert self._client is not None
        s = self.settings
        timeout = openai.Timeout(s.timeout_s, read=min(s.timeout_s, s.read_timeout_s))
        return StepCall(self._client, s.model, context.provider_headers(), timeout, self.tracing)

    async def _step(
        self, name: str, call: StepCall, task: str, outputs: dict[str, Any], tolerant: bool
    ) -> Any:
        with self.tracing.span(f"step {name}", attributes={"agent.step": name}) as span:
            try:
                if name == "research":
                    return await research(call, task, tolerant)
                if name == "analyse":
                    return await analyse(call, task, outputs["research"])
                return await draft(call, task, outputs["analyse"])
            except StepFailed as exc:
                self.metrics.step_failures.labels(kind=exc.kind).inc()
                self.tracing.fail(span, exc.kind)
                raise

    async def _naive(
        self, context: Context, task: str, progress: asyncio.Queue[dict[str, Any]] | None
    ) -> dict[str, Any]:
        """Start over from the first step after any failure, up to 2 more times."""
        call = self._call(context)
        failure: StepFailed | None = None
        done_before: set[str] = set()
        for _ in range(3):
            outputs: dict[str, Any] = {}
            try:
                for name in STEPS:
                    if name in done_before:
                        self.metrics.steps_redone.inc()
                    outputs[name] = await self._step(name, call, task, outputs, tolerant=False)
                    done_before.add(name)
                    self.metrics.steps.labels(step=name).inc()
                    if progress is not None:
                        progress.put_nowait({"step": name, "status": "completed"})
                return outputs
            except StepFailed as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _resilient(
        self,
        context: Context,
        workflow_id: str,
        task: str,
        progress: asyncio.Queue[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """Retry only the failed step; completed steps stay checkpointed under the workflow."""
        call = self._call(context)
        workflow = self._checkpoints.pop(workflow_id, None)
        if workflow is not None and workflow.outputs:
            self.metrics.resumed.inc()
        workflow = workflow or Workflow()
        self._remember(workflow_id, workflow)
        for name in STEPS:
            if name in workflow.outputs:
                continue
            for attempt in range(3):
                if attempt:
                    self.metrics.step_retries.inc()
                try:
                    workflow.outputs[name] = await self._step(
                        name, call, task, workflow.outputs, tolerant=True
                    )
                    break
                except StepFailed as exc:
                    if not exc.retryable or attempt == 2:
                        raise
                    await asyncio.sleep(self._rng.uniform(0, min(2.0, 0.2 * 2**attempt)))
            self.metrics.steps.labels(step=name).inc()
            if progress is not None:
                progress.put_nowait({"step": name, "status": "completed"})
        self._checkpoints.pop(workflow_id, None)  # finished: nothing left to resume
        return workflow.outputs

    def _remember(self, workflow_id: str, workflow: Workflow) -> None:
        self._checkpoints[workflow_id] = workflow
        while len(self._checkpoints) > 10_000:  # bounded: the oldest unfinished are dropped
            self._checkpoints.popitem(last=False)
