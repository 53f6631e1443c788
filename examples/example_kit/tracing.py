"""OpenTelemetry spans from the example services: the standard SDK and its OTLP/HTTP exporter.

brownout sets ``OTEL_EXPORTER_OTLP_ENDPOINT`` for the SUTs it starts and receives their spans
into the run's ``spans.jsonl``, where ``brownout trace`` shows them beside the provider calls
of the same request. Each service opens a server span per request, parented on the incoming
W3C ``traceparent`` and carrying the ``request_id`` attribute brownout joins on, with child
spans for retrieval, queue wait, tool execution and each provider call (named and attributed
after the OpenTelemetry GenAI conventions: ``chat gpt-4o-mini``, ``gen_ai.*``).

Without the variable (or without the SDK installed) every call here is a no-op: an example run
by hand exports nothing and needs nothing beyond its own dependencies.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"


class Tracing:
    """Spans for one service; ``enabled`` is false when nothing is exported (all no-ops)."""

    def __init__(self, service_name: str, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.enabled = False
        self._provider: Any = None
        self._tracer: Any = None
        self._trace: Any = None
        self._propagator: Any = None
        if not env.get(ENDPOINT_VARIABLE):
            return
        try:
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )
        except ImportError as exc:
            print(
                f"{service_name}: {ENDPOINT_VARIABLE} is set but the OpenTelemetry SDK is not "
                f"installed ({exc.name}); no spans are exported. "
                "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http",
                file=sys.stderr,
            )
            return
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        # The exporter reads the endpoint itself and appends /v1/traces; a short batch delay
        # gets a run's last spans out before the service is stopped.
        exporter = OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
        self._provider = provider
        self._trace = trace
        self._tracer = trace.get_tracer(service_name, tracer_provider=provider)
        self._propagator = TraceContextTextMapPropagator()
        self.enabled = True

    def request_context(self, traceparent: str | None) -> Any:
        """The parent context of a server span: the incoming ``traceparent``, if any."""
        if not self.enabled or traceparent is None:
            return None
        return self._propagator.extract({"traceparent": traceparent})

    @contextlib.contextmanager
    def span(
        self, name: str, parent: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> Iterator[Any]:
        """A span around the block, child of ``parent`` (a context from ``current_context``
        or ``request_context``) or of the current span; yields it (None when disabled)."""
        if not self.enabled:
            yield None
            return
        with self._tracer.start_as_current_span(
            name, context=parent, attributes=dict(attributes or {})
        ) as span:
            yield span

    def current_context(self) -> Any:
        """A context holding the current span, to parent spans made in another task."""
        if not self.enabled:
            return None
        return self._trace.set_span_in_context(self._trace.get_current_span())

    def record_interval(
        self, name: str, parent: Any, start_s: float, end_s: float, **attributes: Any
    ) -> None:
        """A span for an interval already over (queue wait), from ``time.time()`` readings."""
        if not self.enabled:
            return
        span = self._tracer.start_span(
            name, context=parent, start_time=int(start_s * 1e9), attributes=attributes
        )
        span.end(end_time=int(end_s * 1e9))

    def traceparent(self, fallback: str | None) -> str | None:
        """The ``traceparent`` for an outgoing call made in the current span (same trace, this
        span as parent); ``fallback`` (the incoming one) when tracing is off."""
        if not self.enabled:
            return fallback
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier.get("traceparent", fallback)

    def fail(self, span: Any, description: str) -> None:
        """Mark ``span`` as failed (an error status the trace view shows)."""
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, description))

    def shutdown(self) -> None:
        """Export what is still batched; called at lifespan shutdown."""
        if self._provider is not None:
            self._provider.shutdown()


def now_s() -> float:
    """Wall-clock seconds, the clock spans are stamped with."""
    return time.time()


def chat_span_attributes(model: str, attempt: int, system: str = "openai") -> dict[str, Any]:
    """GenAI semantic-convention attributes of one chat call."""
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": system,
        "gen_ai.request.model": model,
        "brownout.attempt": attempt,
    }
