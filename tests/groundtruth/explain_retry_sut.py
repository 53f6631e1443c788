"""Ground-truth SUTs for the client-resilience verdicts: one tiny service, four retry clients.

``POST /ask`` makes one chat completion through the provider and answers ``{"answer": ...}``;
what differs is how it retries a failed call:

- ``openai-sdk``: the official ``openai`` SDK's own retries (``max_retries=3``): it honours
  ``retry-after`` and otherwise backs off exponentially with a little jitter;
- ``naive``: up to 3 immediate retries of any failure, ``retry-after`` ignored;
- ``fixed``: up to 3 retries, each after the same fixed delay (no jitter, ``retry-after``
  ignored): requests that fail together retry together;
- ``jitter``: up to 3 retries after a full-jitter exponential backoff (uniform in
  ``[0, base * 2**n]``).

Every call forwards the user's ``X-Request-Id`` so the journal joins it to the request. With
``--otlp`` the service also exports one OpenTelemetry span per request and per attempt through
the standard OTLP/HTTP exporter to ``OTEL_EXPORTER_OTLP_ENDPOINT``, continuing the trace of the
``traceparent`` the load generator sent.

Run as ``python explain_retry_sut.py --mode naive --port 0 --provider-url URL/v1``; it prints
``BROWNOUT_READY <url>`` once it listens. A request body may name its client
(``{"question": ..., "mode": "fixed"}``), so one run can drive all four; each client calls the
model of its own (``MODELS``), so the journal tells their calls apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import httpx
import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MODES = ("openai-sdk", "naive", "fixed", "jitter")
#: Each client calls its own model, so the journal says which client made each call.
MODELS = {
    "openai-sdk": "gpt-4o-mini",
    "naive": "gpt-4o",
    "fixed": "gpt-4.1-mini",
    "jitter": "gpt-4.1-nano",
}
#: The hand-written clients try 1 + 3 times; the SDK keeps its default (2 retries).
RETRIES = 3
FIXED_DELAY_S = 2.0
JITTER_BASE_S = 1.0


class Tracing:
    """OpenTelemetry spans, when asked for: the standard SDK and OTLP/HTTP exporter."""

    def __init__(self, mode: str) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        provider = TracerProvider(resource=Resource.create({"service.name": f"explain-{mode}"}))
        # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT itself (…/v1/traces is appended).
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=200)
        )
        self.provider = provider
        self.tracer = trace.get_tracer("explain_retry_sut", tracer_provider=provider)
        self.propagator = TraceContextTextMapPropagator()

    def shutdown(self) -> None:
        self.provider.shutdown()


class Service:
    def __init__(self, mode: str, provider_url: str, tracing: Tracing | None) -> None:
        self.default_mode = mode
        self.provider_url = provider_url.rstrip("/")
        self.tracing = tracing
        self.http: httpx.AsyncClient | None = None
        self.sdk: Any = None

    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=10.0)
        from openai import AsyncOpenAI

        self.sdk = AsyncOpenAI(base_url=self.provider_url, api_key="sk-groundtruth")

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        if self.sdk is not None:
            await self.sdk.close()
        if self.tracing is not None:
            self.tracing.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.stop()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path = scope["path"]
        if path == "/healthz":
            await _reply(send, 200, {"status": "ok"})
            return
        if path != "/ask":
            await _reply(send, 404, {"error": "not found"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id", "")
        request = json.loads(body or b"{}")
        question = str(request.get("question", "?"))
        mode = str(request.get("mode", self.default_mode))
        if mode not in MODES:
            await _reply(send, 400, {"error": f"unknown mode {mode!r}"})
            return
        if self.tracing is None:
            status, answer = await self._answer(mode, question, request_id)
        else:
            context = self.tracing.propagator.extract(headers)
            with self.tracing.tracer.start_as_current_span(
                "ask", context=context, attributes={"request_id": request_id}
            ):
                with self.tracing.tracer.start_as_current_span("retrieve"):
                    await asyncio.sleep(0.002)
                status, answer = await self._answer(mode, question, request_id)
        if status == 200:
            await _reply(send, 200, {"answer": answer})
        else:
            await _reply(send, 502, {"error": answer})

    async def _answer(self, mode: str, question: str, request_id: str) -> tuple[int, str]:
        messages = [{"role": "user", "content": question}]
        model = MODELS[mode]
        if mode == "openai-sdk":
            import openai

            try:
                completion = await self.sdk.chat.completions.create(
                    model=model, messages=messages, extra_headers={"X-Request-Id": request_id}
                )
            except openai.APIError as exc:
                return 502, type(exc).__name__
            return 200, completion.choices[0].message.content or ""
        assert self.http is not None
        payload = {"model": model, "messages": messages}
        detail = "no attempt"
        for attempt in range(RETRIES + 1):
            if attempt:
                await asyncio.sleep(_delay(mode, attempt))
            try:
                response = await self.http.post(
                    f"{self.provider_url}/chat/completions",
                    json=payload,
                    headers={"X-Request-Id": request_id, "Authorization": "Bearer sk-gt"},
                )
            except httpx.HTTPError as exc:
                detail = type(exc).__name__
                continue
            if response.status_code == 200:
                return 200, str(response.json()["choices"][0]["message"]["content"])
            detail = f"http_{response.status_code}"
        return 502, detail


def _delay(mode: str, retry: int) -> float:
    if mode == "naive":
        return 0.0
    if mode == "fixed":
        return FIXED_DELAY_S
    return random.uniform(0.0, JITTER_BASE_S * 2 ** (retry - 1))


async def _reply(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class _ReadyServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self.url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print(f"BROWNOUT_READY {self.url}", flush=True)


def _exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=MODES, default="naive", help="when the body names none")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--provider-url", required=True)
    parser.add_argument("--otlp", action="store_true", help="export spans over OTLP/HTTP")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    tracing = (
        Tracing(args.mode) if args.otlp and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else None
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        Service(args.mode, args.provider_url, tracing),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    _ReadyServer(config, url).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
