"""Two workers behind one endpoint, each answering from a retrieval snapshot per conversation.

``POST /ask {"conversation": "c1", "question": "..."}`` alternates between worker ``a`` and
worker ``b`` (a round-robin load balancer in one process). A worker answers from the
conversation's *snapshot*: the passage the document store returned for the question (one call
to the docstore provider), which it then hands to the LLM with the question (a second call).

- **naive**: each worker keeps its *own* snapshot per conversation for ``--snapshot-ttl-s``
  (default 30 s). When the document store serves outdated passages for a while, every snapshot
  taken in that window outlives it; and since the two workers took theirs at different times,
  the same conversation gets different answers depending on which worker serves it. Latency
  and errors stay perfect: only a check on the answer's content sees it.
- **resilient**: one snapshot per conversation *shared* by both workers (the same question in
  the same conversation always gets the same context), with a short TTL (default 1 s), so
  answers are consistent and a bad index window stops showing as soon as the TTL has passed.

TTLs are multiplied by ``BROWNOUT_TIME_SCALE`` (set by ``brownout run --time-scale``), so a
time-scaled run keeps the proportions between the TTL and the fault window.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
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
from example_kit.propagation import Context, incoming
from prometheus_client import Counter, Gauge, Summary


@dataclass(frozen=True)
class Settings:
    llm_url: str
    docstore_url: str
    api_key: str
    model: str
    docstore_model: str
    mode: str  # naive | resilient
    snapshot_ttl_s: float
    timeout_s: float


@dataclass
class Snapshot:
    passage: str
    taken_at: float


@dataclass
class Worker:
    """One worker; in naive mode it owns its snapshots, in resilient mode it shares them."""

    name: str
    snapshots: dict[tuple[str, str], Snapshot] = field(default_factory=dict)


class ProviderError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class SnapshotService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = registry = new_registry()
        self.queue_depth = Gauge(
            "sut_queue_depth", "Requests waiting (always 0).", registry=registry
        )
        self.snapshot_fetches = Counter(
            "sut_snapshot_fetches", "Docstore calls, by worker.", ["worker"], registry=registry
        )
        self.snapshot_hits = Counter(
            "sut_snapshot_hits",
            "Answers from a cached snapshot, by worker.",
            ["worker"],
            registry=registry,
        )
        self.snapshot_age = Gauge(
            "sut_snapshot_max_age_seconds", "Age of the oldest snapshot in use.", registry=registry
        )
        self.responses = Counter(
            "sut_responses", "/ask responses by status.", ["code"], registry=registry
        )
        self.duration = Summary(
            "sut_request_duration_seconds", "Time to answer /ask.", registry=registry
        )
        shared: dict[tuple[str, str], Snapshot] = {}
        self.workers = [Worker("a"), Worker("b")]
        if settings.mode == "resilient":
            for worker in self.workers:
                worker.snapshots = shared  # one store: the workers cannot disagree
        self._next = 0
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._client = httpx.AsyncClient(
                        headers={"Authorization": f"Bearer {self.settings.api_key}"},
                        trust_env=False,
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self._client is not None:
                        await self._client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "http":
            routes = {"/ask": "POST", "/healthz": "GET", "/metrics": "GET"}
            path = scope["path"]
            if routes.get(path) != scope["method"]:
                await route_error(send, path, routes.get(path))
            elif path == "/healthz":
                await send_json(send, 200, {"status": "ok", "mode": self.settings.mode})
            elif path == "/metrics":
                self._update_age()
                await send_bytes(send, 200, exposition(self.registry), CONTENT_TYPE)
            else:
                await self._ask(scope, receive, send)

    def _update_age(self) -> None:
        now = time.monotonic()
        ages = [now - s.taken_at for w in self.workers for s in w.snapshots.values()]
        self.snapshot_age.set(max(ages, default=0.0))

    async def _ask(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        context = incoming(scope)
        try:
            document = await read_json_object(receive)
            conversation = string_field(document, "conversation")
            question = string_field(document, "question")
        except HttpError as exc:
            self.responses.labels(code=str(exc.status)).inc()
            error = {"error": exc.error, "detail": exc.detail}
            await send_json(send, exc.status, error, context.response_headers())
            return
        assert conversation is not None and question is not None
        worker = self.workers[self._next % len(self.workers)]
        self._next += 1
        try:
            passage, age = await self._snapshot(worker, context, conversation, question)
            answer = await self._complete(
                self.settings.llm_url,
                self.settings.model,
                [
                    {"role": "system", "content": f"Answer from this passage only: {passage}"},
                    {"role": "user", "content": question},
                ],
                context,
            )
        except ProviderError as exc:
            status = 504 if exc.status == 0 else 502
            self.responses.labels(code=str(status)).inc()
            error = {"error": "provider_failed", "detail": str(exc), "worker": worker.name}
            await send_json(send, status, error, context.response_headers())
            return
        self.responses.labels(code="200").inc()
        payload: dict[str, Any] = {
            "answer": answer,
            "context": passage,
            "worker": worker.name,
            "conversation": conversation,
            "snapshot_age_s": round(age, 3),
            "request_id": context.request_id,
        }
        await send_json(send, 200, payload, context.response_headers())
        self.duration.observe(time.monotonic() - started)

    async def _snapshot(
        self, worker: Worker, context: Context, conversation: str, question: str
    ) -> tuple[str, float]:
        """The conversation's passage for the question, fetched when missing or expired."""
        key = (conversation, question)
        # Resilient: one fetch for both workers; naive: each worker fetches its own.
        owner = () if self.settings.mode == "resilient" else (worker.name,)
        lock = self._locks.setdefault((*owner, *key), asyncio.Lock())
        async with lock:
            now = time.monotonic()
            snapshot = worker.snapshots.get(key)
            if snapshot is not None and now - snapshot.taken_at < self.settings.snapshot_ttl_s:
                self.snapshot_hits.labels(worker=worker.name).inc()
                return snapshot.passage, now - snapshot.taken_at
            self.snapshot_fetches.labels(worker=worker.name).inc()
            messages = [{"role": "user", "content": question}]
            passage = await self._complete(
                self.settings.docstore_url, self.settings.docstore_model, messages, context
            )
            worker.snapshots[key] = Snapshot(passage, time.monotonic())
            return passage, 0.0

    async def _complete(
        self, base_url: str, model: str, messages: list[dict[str, str]], context: Context
    ) -> str:
        assert self._client is not None
        try:
            response = await self._client.post(
                base_url.rstrip("/") + "/chat/completions",
                json={"model": model, "messages": messages},
                headers=context.provider_headers(),
                timeout=self.settings.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(0, f"timeout after {self.settings.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise ProviderError(502, type(exc).__name__) from exc
        if response.status_code != 200:
            raise ProviderError(response.status_code, response.text[:200])
        try:
            body: Any = response.json()
            content = body["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(502, "not a chat completion") from exc
        if not isinstance(content, str):
            raise ProviderError(502, "content is not text")
        return content
