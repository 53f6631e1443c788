"""The OTLP/HTTP receiver with the standard OpenTelemetry SDK exporter as its client."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from harness.run.otlp import SPANS_FILE, OTLPReceiver


def test_sdk_exporter_spans_land_in_spans_jsonl(tmp_path: Path) -> None:
    with OTLPReceiver(tmp_path) as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "sut"}))
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("test")
        with (
            tracer.start_as_current_span("ask", attributes={"request_id": "r-1"}) as outer,
            tracer.start_as_current_span("retrieve"),
        ):
            pass
        provider.shutdown()
        bad = httpx.post(f"{receiver.endpoint}/v1/traces", content=b"\xff\x00garbage")
        assert bad.status_code == 400
        as_json = {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "AB" * 16,
                                    "spanId": "CD" * 8,
                                    "name": "tool",
                                    "startTimeUnixNano": "1000000000",
                                    "endTimeUnixNano": "1500000000",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        ok = httpx.post(f"{receiver.endpoint}/v1/traces", json=as_json)
        assert ok.status_code == 200
    rows = [json.loads(line) for line in (tmp_path / SPANS_FILE).read_text().splitlines()]
    by_name = {row["name"]: row for row in rows}
    trace_id = format(outer.get_span_context().trace_id, "032x")
    assert by_name["ask"]["trace_id"] == by_name["retrieve"]["trace_id"] == trace_id
    assert by_name["retrieve"]["parent_span_id"] == by_name["ask"]["span_id"]
    assert by_name["ask"]["attributes"] == {"request_id": "r-1"}
    assert by_name["ask"]["service"] == "sut"
    assert by_name["tool"]["trace_id"] == "ab" * 16
    assert by_name["tool"]["t_end"] - by_name["tool"]["t"] == 0.5
