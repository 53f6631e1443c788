"""Prometheus text parsing and the scraper against a real HTTP server on loopback."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from harness.run.events import EventLog
from harness.run.observers import MetricScraper, parse_prometheus_text
from tests.conftest import serving_in_thread, wait_until

TEXT = """\
# HELP sut_queue_depth Jobs waiting.
# TYPE sut_queue_depth gauge
sut_queue_depth 3
sut_requests_total{route="/ask",code="200"} 1027 1700000000000
weird{label="a \\"quoted\\" value"} 1.5e3
not a sample line
nan_metric NaN
"""


def test_parse_prometheus_text() -> None:
    samples = parse_prometheus_text(TEXT)
    assert samples[0] == ("sut_queue_depth", {}, 3.0)
    assert samples[1] == ("sut_requests_total", {"route": "/ask", "code": "200"}, 1027.0)
    assert samples[2] == ("weird", {"label": 'a "quoted" value'}, 1500.0)
    assert [s[0] for s in samples] == [
        "sut_queue_depth",
        "sut_requests_total",
        "weird",
        "nan_metric",
    ]


@pytest.fixture
def metrics_server() -> Iterator[tuple[str, list[int]]]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            if len(hits) == 2:  # one failed scrape in the middle must not stop scraping
                self.send_response(500)
                self.end_headers()
                return
            body = f"sut_queue_depth {len(hits)}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving_in_thread(Handler) as url:
        yield f"{url}/metrics", hits


def test_scraper_writes_samples_and_survives_a_failed_scrape(
    tmp_path: Path, metrics_server: tuple[str, list[int]]
) -> None:
    url, _ = metrics_server
    events = EventLog(tmp_path / "events.jsonl")
    out = tmp_path / "sut_metrics.jsonl"
    scraper = MetricScraper(url, out, events, interval_s=0.05, drain_bound_s=0.3)
    scraper.start()
    try:
        wait_until(lambda: scraper.scrapes >= 3, 10, what="three good scrapes")
    finally:
        scraper.stop()
        events.close()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["name"] == "sut_queue_depth" and rows[0]["value"] == 1.0
    assert 2.0 not in [r["value"] for r in rows]  # the failed scrape wrote nothing
    assert scraper.failures >= 1
    warnings = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [w["type"] for w in warnings] == ["warning", "warning"]
    # the queue read 1 to the end: the drain bound passed, and the run says so
    assert "had not drained 0.3 s after the load stopped" in warnings[1]["message"]


def test_scraper_keeps_scraping_after_stop_until_the_queue_drains(tmp_path: Path) -> None:
    """stop() comes when the load stops; the drain is then observed, scrape by scrape."""
    hits: list[int] = []
    draining = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            # Busy (4 jobs) until the load stops, then one job fewer per scrape.
            depth = 4 if not draining.is_set() else max(0, 4 - sum(hits[drain_from[0] :]))
            body = f"sut_queue_depth {depth}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    drain_from = [0]
    events = EventLog(tmp_path / "events.jsonl")
    out = tmp_path / "sut_metrics.jsonl"
    with serving_in_thread(Handler) as root:
        scraper = MetricScraper(
            f"{root}/metrics", out, events, interval_s=0.05, drain_interval_s=0.02
        )
        try:
            scraper.start()
            wait_until(lambda: scraper.scrapes >= 2, 10, what="two scrapes")
            drain_from[0] = len(hits)
            draining.set()
            scraper.stop()
        finally:
            events.close()
    values = [json.loads(line)["value"] for line in out.read_text().splitlines()]
    assert values[-1] == 0.0  # scraping went on until the queue read empty
    assert 3.0 in values and 1.0 in values  # and saw it drain
    assert "had not drained" not in (tmp_path / "events.jsonl").read_text()


HISTOGRAM = """\
# TYPE sut_queue_wait_seconds histogram
sut_queue_wait_seconds_bucket{route="/ask",le="0.1"} 50
sut_queue_wait_seconds_bucket{route="/ask",le="0.5"} 90
sut_queue_wait_seconds_bucket{route="/ask",le="1.0"} 100
sut_queue_wait_seconds_bucket{route="/ask",le="+Inf"} 100
sut_queue_wait_seconds_sum{route="/ask"} 21.5
sut_queue_wait_seconds_count{route="/ask"} 100
# TYPE sut_queue_wait_seconds_created gauge
"""


def test_histograms_also_give_their_quantiles() -> None:
    samples = {(name, tuple(labels.items())): value for name, labels, value in
               parse_prometheus_text(HISTOGRAM)}  # fmt: skip
    route = (("route", "/ask"),)
    assert samples[("sut_queue_wait_seconds_count", route)] == 100
    # Rank 50 is the top of the first bucket; rank 95 is half way through (0.5, 1.0].
    assert samples[("sut_queue_wait_seconds_p50", route)] == pytest.approx(0.1)
    assert samples[("sut_queue_wait_seconds_p95", route)] == pytest.approx(0.75)
    assert samples[("sut_queue_wait_seconds_p99", route)] == pytest.approx(0.95)


def test_histogram_quantile_edges() -> None:
    from harness.run.prometheus_text import histogram_quantile

    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None  # no observations
    assert histogram_quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0  # in the +Inf bucket
