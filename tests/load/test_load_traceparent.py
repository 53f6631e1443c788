"""Every request Locust sends carries a W3C ``traceparent`` whose trace id is its X-Request-Id,
so a provider call joins its user request on either header (docs/metrics.md, Attribution)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from load_support import RunLocust

from harness.load import LoadConfig, RequestSpec, read_records
from tests.conftest import serving_in_thread

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


@contextmanager
def header_recorder() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            body = b'{"answer": "ok"}'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving_in_thread(Handler) as url:
        yield f"{url}", seen


def test_every_request_carries_a_traceparent_paired_with_its_request_id(
    run_locust: RunLocust, tmp_path: Path
) -> None:
    with header_recorder() as (url, seen):
        config = LoadConfig.from_dict(
            {
                "host": url,
                "model": "open",
                "rate": 20,
                "arrivals": "constant",
                "run_time_s": 2,
                "requests_file": str(tmp_path / "requests.jsonl"),
                "request": RequestSpec(path="/ask", json={"q": 1}),
                "stop_timeout_s": 1,
            }
        )
        result = run_locust(config)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(tmp_path / "requests.jsonl"))
    assert len(rows) > 10
    assert len(seen) >= len(rows)
    spans = set()
    for headers in seen:
        match = TRACEPARENT.match(headers["traceparent"])
        assert match, headers["traceparent"]
        assert match[1] == headers["x-request-id"]  # the trace id is the request id
        spans.add(match[2])
    assert len(spans) == len(seen)  # a fresh parent span per request
    assert {r.request_id for r in rows} <= {h["x-request-id"] for h in seen}
