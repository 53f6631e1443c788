"""The mock provider as a raw ASGI application: routing, accounting, journal, control API.

Raw ASGI (no framework) keeps the per-call overhead close to a bare endpoint on the same
server, which is what lets one mock process out-run the systems it is used to test.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

from mock_providers.core.answers import AnswerEngine
from mock_providers.core.bodies import BodyJournal
from mock_providers.core.call import Aborter, Call, Headers, Receive, Send
from mock_providers.core.capacity import CapacitySpec, Limiter
from mock_providers.core.control import PREFIX, ControlState, Stats, handle_control
from mock_providers.core.drift import profile_names
from mock_providers.core.engine import ChatFormat, Engine
from mock_providers.core.faults import Fault, FaultSet, named_faults
from mock_providers.core.flavour import Handler
from mock_providers.core.httpcycle import WHOLE, render_head, whole_supported
from mock_providers.core.journal import CallRecord, Journal, fingerprint
from mock_providers.core.limits import MAX_BODY_BYTES
from mock_providers.core.looplag import LoopLag
from mock_providers.core.models import Flavour, ModelBook, ModelSpec, default_models
from mock_providers.core.pipeline import replay_whole
from mock_providers.core.ratelimit import AccountLimits, api_key
from mock_providers.core.replay import ReplayCache, ReplayEntry, StreamReplayEntry
from mock_providers.core.shared import SharedState
from mock_providers.core.shared_faults import SharedFaultSet
from mock_providers.core.shared_limits import SharedAccount, SharedLimiter
from mock_providers.core.streaming import replay_stream
from mock_providers.core.tokenizer import DEFAULT_TOKENIZER, TokenizerProfile
from mock_providers.core.wire import WireError
from mock_providers.flavours import flavour_spec

log = logging.getLogger("mock_providers")

METRICS_PATH = PREFIX + "/metrics"
#: Test-only: CPU milliseconds each model call burns on the event loop, to make a mock
#: saturate on purpose (the saturated-mock check of `brownout run` is tested with it).
BURN_ENV = "BROWNOUT_MOCK_TEST_BURN_MS"
#: How often each worker publishes its counters for the others (several workers only).
PUBLISH_S = 0.1


@dataclass
class MockConfig:
    """Everything a mock is started with (the CLI's options)."""

    flavour: Flavour = "openai"
    name: str = ""
    seed: int = 0
    journal: str | Path | None = None
    models: tuple[ModelSpec, ...] = ()
    knowledge: dict[str, str] = field(default_factory=dict)
    tokenizer: TokenizerProfile = DEFAULT_TOKENIZER
    # True: unlisted model ids get the provider's 404 (default: any id, a default card).
    strict_models: bool = False
    capacity: CapacitySpec = field(default_factory=CapacitySpec)
    #: opt-in body journal (core/bodies.py): capped, redacted request and response bodies
    bodies: str | Path | None = None

    def __post_init__(self) -> None:
        if not self.name:
            self.name = self.flavour
        if not self.models:
            self.models = default_models(self.flavour)


class MockApp:
    """An OpenAI- or Anthropic-compatible mock. Call it as an ASGI app."""

    def __init__(
        self, config: MockConfig, shared: SharedState | None = None, worker: int = 0
    ) -> None:
        self.config = config
        self.spec = spec = flavour_spec(config.flavour)
        self.flavour: Flavour = config.flavour
        #: with `--workers N`: the state every worker shares (faults, limits, capacity queue)
        self.shared = shared
        self.worker = worker
        self.faults: FaultSet
        self.account: AccountLimits
        self.limiter: Limiter
        if shared is None:
            self.faults = FaultSet()
            self.account = AccountLimits()
            self.limiter = Limiter(config.capacity, config.flavour)
        else:
            self.faults = SharedFaultSet(
                shared,
                seed=config.seed,
                flavour=config.flavour,
                drift_profiles=profile_names(spec.format.provider),
            )
            self.account = SharedAccount(shared)
            self.limiter = SharedLimiter(config.capacity, config.flavour, shared)
        self.stats = Stats()
        self.journal = Journal(config.journal)
        self.loop_lag = LoopLag()
        self._burn_s = float(os.environ.get(BURN_ENV) or 0) / 1000.0
        self.bodies = BodyJournal(config.bodies) if config.bodies is not None else None
        self.account.configure(config.capacity.rpm, config.capacity.tpm)
        self.replay = ReplayCache()
        self.engine = Engine(
            models=ModelBook(config.flavour, config.models, strict=config.strict_models),
            answers=AnswerEngine(config.knowledge),
            tokenizer=config.tokenizer,
            timing_rng=random.Random(f"{config.seed}:timing"),
            record_usage=self.account.record,
            account=self.account,
        )
        self.control = ControlState(
            flavour=config.flavour,
            name=config.name,
            seed=config.seed,
            faults=self.faults,
            stats=self.stats,
            drift_profiles=profile_names(spec.format.provider),
            limiter=self.limiter,
            on_change=self._faults_changed,
            lags=self._lags,
        )
        if isinstance(self.faults, SharedFaultSet):
            self.faults.on_sync = self._faults_changed
            self.control.totals = self._totals
            self.control.workers = self._workers
        self.routes: dict[tuple[str, str], Handler] = spec.routes
        self.format: ChatFormat = spec.format
        self._normalise = spec.normalise_path
        self._resolve = spec.resolve
        self._precheck = spec.precheck
        self._paths = {path for _, path in self.routes}
        # Set by the server: resets a client's TCP connection (for `connection_reset`).
        self.aborter: Aborter | None = None

    # ---- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        self.faults.sync()  # another worker may have changed them (one load when none did)
        if path.startswith(PREFIX):
            body = await _read_body(receive)
            ctype = b"application/json"
            if path == METRICS_PATH and method == "GET":
                status, answer = 200, self.control.metrics_text()
                ctype = CONTENT_TYPE_LATEST.encode()
            else:
                status, answer = handle_control(self.control, method, path, body or b"")
            headers = [(b"content-type", ctype)] if answer else []
            headers.append((b"content-length", b"%d" % len(answer)))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        if self._burn_s:
            _burn(self._burn_s)
        endpoint = self._normalise(path)
        handler = self.routes.get((method, endpoint))
        if handler is None and endpoint.startswith("/v1/models/") and method == "GET":
            handler = self.routes.get(("GET", "/v1/models/{model}"))
        if handler is None and self._resolve is not None:
            handler = self._resolve(method, endpoint)
        body = await _read_body(receive)
        if self.bodies is not None:
            send = self.bodies.capture(scope, body, send)
        named = named_faults(scope["headers"])
        unknown = self.faults.unknown(named) if named else []
        refused = self._precheck(scope) if self._precheck is not None else None
        limited = self.limiter.limited and method == "POST" and endpoint not in UNLIMITED
        exact = self.account.enforced  # every call is charged to its key: no replay
        replay = None
        if body and method == "POST" and not exact and not unknown and refused is None:
            replay = self.replay.get(endpoint, body)
        decided: list[Fault] | None = None
        if replay is not None and (self.faults or named):
            # Draw the decisions now (once, as the full path would): replay only if none fired.
            decided = self.faults.decide(
                endpoint, replay.model, isinstance(replay, StreamReplayEntry), named
            )
            if decided:
                replay = None
        if isinstance(replay, ReplayEntry) and not limited and _instant(self.engine, replay):
            await self._send_replay(scope, send, replay)
            return
        call = Call(scope, receive, send, endpoint, self._headers, self.aborter, self._head_lines)
        if self.bodies is not None:
            call.whole = False  # the body journal's `send` wrapper reads the standard messages
        call.decided = decided
        call.named = named
        if exact:
            call.api_key = api_key(scope["headers"])
        in_flight = self._enter()
        payload: Any = None
        fingerprint_: str | None = None
        admitted = False
        try:
            if refused is not None:
                raise refused
            if unknown:
                raise WireError(
                    400,
                    f"x-brownout-fault names no active fault: {', '.join(unknown)}",
                    kind="invalid_request",
                )
            if limited:
                admitted = await self._admit(call)
                if not admitted:
                    return
            if isinstance(replay, StreamReplayEntry):
                fingerprint_ = replay.fingerprint
                await replay_stream(call, self.engine, replay)
                return
            if isinstance(replay, ReplayEntry):  # a model that takes its time to answer
                fingerprint_ = replay.fingerprint
                await replay_whole(call, self.engine, replay)
                return
            if body is None:
                raise WireError(413, "Request body too large.", kind="too_large")
            if handler is None:
                if endpoint in self._paths or (endpoint.startswith("/v1/models/")):
                    raise WireError(405, f"Method {method} not allowed for {path}.", kind="method")
                raise WireError(404, f"Invalid URL ({method} {path})", kind="unknown_url")
            if body:
                try:
                    payload = orjson.loads(body)
                except orjson.JSONDecodeError:
                    raise self.format.bad_json() from None
                if isinstance(payload, dict):
                    model = payload.get("model")
                    call.model = model if isinstance(model, str) else None
            elif method == "POST":
                raise self.format.bad_json()
            await handler(self, call, payload)
            if call.status == 200 and body:
                fingerprint_ = self._remember(call, body, payload)
        except WireError as err:
            if not call.started:
                await call.respond(err.status, self.format.wire_error(err), b"application/json")
        except ConnectionAbortedError:
            raise
        except Exception:
            # A bug in the mock must not take the server down or look like a provider fault.
            log.exception("mock provider failed on %s %s", method, path)
            if not call.started:
                bug = WireError(
                    500,
                    "The mock provider failed on this request (a bug in "
                    "brownout's mock; see its log).",
                    kind="server_error",
                )
                await call.respond(500, self.format.wire_error(bug), b"application/json")
        finally:
            if admitted:
                self.limiter.release()
            call.finish()
            self._leave()
            self._record(call, body or b"", payload, in_flight, fingerprint_)

    def _enter(self) -> int:
        """Count a call in; returns the calls in flight at its arrival, this one included (with
        several workers, in all of them: the provider's, as the journal's `in_flight` says)."""
        self.stats.in_flight += 1
        if self.shared is None:
            return self.stats.in_flight
        return self.shared.add_in_flight(1)

    def _leave(self) -> None:
        self.stats.in_flight -= 1
        if self.shared is not None:
            self.shared.add_in_flight(-1)

    async def _admit(self, call: Call) -> bool:
        """A slot for this call (waiting in the queue if need be); False when it was answered
        instead: the overload answer when the queue is full, nothing if the client left."""
        limiter = self.limiter
        admitted = limiter.try_admit()
        if admitted is None:
            t0 = time.perf_counter()
            admitted = await limiter.wait(call.gone())
            call.queue_ms = (time.perf_counter() - t0) * 1000.0
            limiter.add_queue_wait(call.queue_ms / 1000.0)
            if not admitted:
                call.status = 0  # the client hung up while queued
                return False
        if not admitted:
            status = limiter.overload_status
            await call.respond(status, self.format.status_error(status, ""), b"application/json")
            return False
        call.ttft_factor, call.token_factor = limiter.slowdown()
        return True

    async def background(self) -> None:
        """The mock's own tasks while it serves (started by the server): the loop-lag gauge,
        and with several workers this worker's counters published for the others."""
        tasks = [asyncio.ensure_future(self.loop_lag.run())]
        if self.shared is not None:
            tasks.append(asyncio.ensure_future(self._publish_loop()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _publish_loop(self) -> None:
        while True:
            self._publish()
            await asyncio.sleep(PUBLISH_S)

    def _publish(self) -> None:
        if self.shared is not None:
            stats = self.stats.to_json()
            self.shared.publish(self.worker, os.getpid(), self.loop_lag.worst_s, stats)

    def _lags(self) -> list[tuple[int, float]]:
        if self.shared is None:
            return [(os.getpid(), self.loop_lag.worst_s)]
        self._publish()
        return [(pid, lag) for pid, lag, _ in self.shared.published()]

    def _workers(self) -> list[dict[str, int]]:
        assert self.shared is not None
        self._publish()
        return [
            {"pid": pid, "calls": int(stats.get("calls", 0))}
            for pid, _, stats in self.shared.published()
        ]

    def _totals(self) -> Stats:
        """Every worker's counters added up (this one's fresh, the others' at most
        `PUBLISH_S` old)."""
        assert self.shared is not None
        self._publish()
        total = Stats()
        for _, _, stats in self.shared.published():
            total.calls += int(stats.get("calls", 0))
            total.in_flight += int(stats.get("in_flight", 0))
            total.by_status.update(stats.get("by_status", {}))
            total.by_fault.update(stats.get("by_fault", {}))
        return total

    def _faults_changed(self) -> None:
        """A fault was added or removed: the capacity in force may have changed."""
        fault = self.faults.capacity()
        base = self.limiter.baseline
        spec = base.merged(fault.params, fault.given) if fault is not None else base
        self.limiter.configure(spec)
        self.account.configure(spec.rpm, spec.tpm)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _remember(self, call: Call, body: bytes, payload: Any) -> str | None:
        """Keep a fault-free reply for identical calls; returns the call's fingerprint."""
        entry: ReplayEntry | StreamReplayEntry
        if call.replayable is not None:
            response, reply_id = call.replayable
            fp = fingerprint(call.method, call.endpoint, body, payload)
            entry = ReplayEntry(
                self.flavour,
                self.config.name,
                call.endpoint,
                call.model,
                call.tokens_in,
                call.tokens_out,
                fp,
                response,
                reply_id,
            )
        elif call.replayable_stream is not None and call.stream_completed and call.model:
            frames, n_body, reply_id = call.replayable_stream
            if not reply_id:
                return None
            fp = fingerprint(call.method, call.endpoint, body, payload)
            entry = StreamReplayEntry(
                call.endpoint,
                call.model,
                call.tokens_in,
                call.tokens_out,
                fp,
                frames,
                n_body,
                reply_id,
            )
        else:
            return None
        self.replay.put(body, entry)
        return fp

    async def _send_replay(self, scope: dict[str, Any], send: Send, entry: ReplayEntry) -> None:
        """The hot path: an identical earlier call's reply, fresh ids, journalled the same."""
        t = time.time()
        t0 = time.perf_counter()
        stats = self.stats
        in_flight = self._enter()
        try:
            body = entry.render()
            replay_head = self.spec.replay_head
            if replay_head is not None and self.bodies is None and whole_supported(scope):
                head = b"content-type: application/json\r\ncontent-length: %d\r\n%s" % (
                    len(body),
                    replay_head(self.account),
                )
                await send({"type": WHOLE, "status": 200, "head": head, "body": body})
            else:
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                    *self.spec.replay_headers(self.account),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            self._leave()
        self.account.record(entry.tokens_in)
        stats.calls += 1
        stats.by_status["200"] += 1
        retry = request_id = traceparent = None
        for name, value in scope["headers"]:
            if name == b"x-stainless-retry-count":
                retry = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"traceparent":
                traceparent = value
        latency_ms = (time.perf_counter() - t0) * 1000.0
        self.journal.write_line(
            entry.journal_line(t, latency_ms, request_id, traceparent, retry, in_flight)
        )

    def close(self) -> None:
        """Flush and close the journal (idempotent)."""
        self.journal.close()
        if self.bodies is not None:
            self.bodies.close()

    # ---- accounting --------------------------------------------------------------------------

    def _record(
        self, call: Call, body: bytes, payload: Any, in_flight: int, fingerprint_: str | None
    ) -> None:
        stats = self.stats
        stats.calls += 1
        stats.by_status[str(call.status)] += 1
        fault = ",".join(call.faults) if call.faults else None
        if fault is not None:
            stats.by_fault[fault] += 1
        retry = request_id = traceparent = None
        # One pass over the raw header list: cheaper than building a dict on every call.
        for name, value in call.scope["headers"]:
            if name == b"x-stainless-retry-count":
                retry = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"traceparent":
                traceparent = value
        retry_count: int | None = None
        if retry is not None and retry.isdigit():
            retry_count = int(retry)
        latency_ms = call.elapsed_ms()
        record: CallRecord = {
            "t": call.t,
            "t_end": call.t + latency_ms / 1000.0,
            "provider": self.flavour,
            "name": self.config.name,
            "endpoint": call.endpoint,
            "method": call.method,
            "model": call.model,
            "request_id": request_id.decode("latin-1") if request_id is not None else None,
            "traceparent": traceparent.decode("latin-1") if traceparent is not None else None,
            "retry_count": retry_count,
            "fingerprint": fingerprint_ or fingerprint(call.method, call.endpoint, body, payload),
            "status": call.status,
            "fault": fault,
            "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out if 200 <= call.status < 300 else 0,
            "latency_ms": round(latency_ms, 3),
            "stream": call.stream,
            "stream_completed": call.stream_completed,
            "in_flight": in_flight,
            "queue_ms": round(call.queue_ms, 3),
        }
        if call.retry_after_s is not None:
            record["retry_after_s"] = call.retry_after_s
        self.journal.write(record)

    def _headers(self, call: Call) -> Headers:
        """This flavour's response headers for one call."""
        return self.spec.headers(self.account, call)

    def _head_lines(self, call: Call) -> bytes | None:
        """The same as rendered header lines (None: a value the server must check itself)."""
        head = self.spec.head
        if head is not None:
            return head(self.account, call)
        return render_head(self.spec.headers(self.account, call))


# POST endpoints that do not take a serving slot (no model runs for them).
UNLIMITED = frozenset({"/v1/messages/count_tokens"})


def _instant(engine: Engine, entry: ReplayEntry) -> bool:
    """Whether the entry's model answers at once (then the leanest replay path applies)."""
    model = entry.model or ""
    spec = engine.models.get(model) or engine.models.get(model, "embedding")
    return spec is not None and spec.ttft_ms == 0 and spec.tokens_per_s == 0 and not spec.jitter_ms


def _burn(seconds: float) -> None:
    """Keep the CPU (and the event loop) busy for `seconds` (the test-only `BURN_ENV`)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _read_body(receive: Receive) -> bytes | None:
    """The request body; None when it exceeds `MAX_BODY_BYTES`."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
