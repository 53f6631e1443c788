"""An OTLP/HTTP trace receiver on 127.0.0.1: the SUT's own spans, into ``spans.jsonl``.

A SUT instrumented with the standard OpenTelemetry SDK and its OTLP/HTTP exporter sends its spans
(retrieval, tool calls, queue time) here when it reads ``OTEL_EXPORTER_OTLP_ENDPOINT``, which the
orchestrator sets in the SUT's environment; ``harness.analysis.traces`` joins them to user
requests by trace id. Both encodings of ``POST /v1/traces`` are accepted: protobuf (the
exporter's default, decoded with ``opentelemetry-proto``) and JSON. Each export is appended and
flushed as one batch of lines, so a crashed run keeps what arrived.

A ``ThreadingHTTPServer`` in a daemon thread: span exports are small and rare next to the load,
and a thread keeps the receiver inside the orchestrator's process with nothing to supervise.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["SPANS_FILE", "OTLPReceiver", "spans_from_json", "spans_from_protobuf"]

SPANS_FILE: Final = "spans.jsonl"
MAX_BODY: Final = 16 * 1024 * 1024
_STATUS: Final = {0: "unset", 1: "ok", 2: "error"}


def spans_from_protobuf(body: bytes) -> list[dict[str, Any]]:
    """Flat span rows from an ``ExportTraceServiceRequest`` in protobuf."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest()
    message.ParseFromString(body)
    data = MessageToDict(message, preserving_proto_field_name=False)
    # MessageToDict writes bytes fields (ids) as base64; OTLP/JSON writes them as hex.
    return _rows(data, _b64_to_hex)


def spans_from_json(body: bytes) -> list[dict[str, Any]]:
    """Flat span rows from an ``ExportTraceServiceRequest`` in OTLP/JSON (ids in hex)."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return _rows(data, lambda value: value.lower())


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex() if value else ""


def _value(attr: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in attr:
            return attr[key]
    if "intValue" in attr:
        return int(attr["intValue"])
    return json.dumps(attr, sort_keys=True)


def _attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a.get("key", ""): _value(a.get("value", {})) for a in items or []}


def _rows(data: dict[str, Any], ident: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for resource_spans in data.get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes"))
        service = resource.get("service.name")
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                rows.append(
                    {
                        "trace_id": ident(span.get("traceId", "")),
                        "span_id": ident(span.get("spanId", "")),
                        "parent_span_id": ident(span.get("parentSpanId", "")) or None,
                        "name": span.get("name", ""),
                        "t": int(span.get("startTimeUnixNano", 0)) / 1e9,
                        "t_end": int(span.get("endTimeUnixNano", 0)) / 1e9,
                        "service": service,
                        "status": _status(span.get("status", {})),
                        "attributes": _attributes(span.get("attributes")),
                    }
                )
    return rows


def _status(status: dict[str, Any]) -> str:
    code = status.get("code", 0)
    if isinstance(code, str):  # MessageToDict spells enums by name
        return code.removeprefix("STATUS_CODE_").lower()
    return _STATUS.get(int(code), str(code))


class OTLPReceiver:
    """``with OTLPReceiver(run_dir) as r: r.endpoint`` → ``http://127.0.0.1:PORT``."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / SPANS_FILE
        self.spans = 0
        self._lock = threading.Lock()
        self._file = self.path.open("ab")
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="otlp-receiver", daemon=True
        )
        self._thread.start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.path.rstrip("/") != "/v1/traces":
            self._answer(request, 404, b"only /v1/traces is received here")
            return
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self._answer(request, 413, b"export too large")
            return
        body = request.rfile.read(length)
        kind = (request.headers.get("content-type") or "").split(";")[0].strip()
        try:
            rows = (
                spans_from_json(body) if kind == "application/json" else spans_from_protobuf(body)
            )
        except Exception as exc:  # a bad export must not stop the receiver
            self._answer(request, 400, f"cannot decode the export: {exc}".encode())
            return
        data = b"".join(orjson.dumps(row) + b"\n" for row in rows)
        with self._lock:
            if not self._file.closed:
                self._file.write(data)
                self._file.flush()
                self.spans += len(rows)
        if kind == "application/json":
            self._answer(request, 200, b"{}", "application/json")
        else:
            self._answer(request, 200, b"", "application/x-protobuf")

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str = "text/plain"
    ) -> None:
        request.send_response(status)
        request.send_header("content-type", kind)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            self._file.close()

    def __enter__(self) -> OTLPReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
