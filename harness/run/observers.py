"""Scrapes the SUT's Prometheus ``/metrics`` every second into ``sut_metrics.jsonl`` (parsed by
``prometheus_client``, histograms also as p50/p95/p99: ``harness.run.prometheus_text``), and
each mock provider's ``/_brownout/metrics`` into ``provider_metrics.jsonl`` the same way.

An observer must never take the run down: a failed scrape is counted and logged once as a
warning event, and scraping goes on. An exception that would end the loop is a validity problem
(``RunValidity.guard``), never a silently dead thread.

Drain (the SUT's scrape only): the scraper is stopped after the load (``stop``), and it keeps
scraping until the SUT's queue gauge reads empty or ``drain_bound_s`` passes, so
``drain_time_s`` in the analysis is a measurement, not the time to whichever scrape happened to
come first.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import httpx

from harness.run.events import EventLog
from harness.run.prometheus_text import MetricSample, parse_prometheus_text
from harness.run.validity import RunValidity

__all__ = [
    "DRAIN_BOUND_S",
    "QUEUE_DEPTH_GAUGE",
    "MetricSample",
    "MetricScraper",
    "parse_prometheus_text",
]

#: The SUT gauge whose value 0 means "no work left" (the analysis reads the same name).
QUEUE_DEPTH_GAUGE = "sut_queue_depth"
#: After the load stops, scraping goes on until the queue is empty or this many seconds pass.
DRAIN_BOUND_S = 10.0


class MetricScraper:
    def __init__(
        self,
        url: str,
        out_path: Path,
        events: EventLog,
        *,
        interval_s: float = 1.0,
        validity: RunValidity | None = None,
        drain_bound_s: float = DRAIN_BOUND_S,
        drain_interval_s: float = 0.1,
        queue_gauge: str | None = QUEUE_DEPTH_GAUGE,
        name: str = "metric scraper",
    ) -> None:
        self.url = url
        #: the gauge whose sum is "work left" (None: no drain phase; a mock's scrape)
        self.queue_gauge = queue_gauge
        self.name = name
        self.out_path = out_path
        self.events = events
        self.interval_s = interval_s
        self.drain_bound_s = drain_bound_s
        self.drain_interval_s = drain_interval_s
        self.validity = validity if validity is not None else RunValidity(events)
        self.scrapes = 0
        self.failures = 0
        #: the last summed queue gauge seen (None: the SUT exports none)
        self.last_queue: float | None = None
        self._draining = threading.Event()
        self._drained = threading.Event()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self.validity.guard(name, self._loop),
            name=name.replace(" ", "-"),
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop scraping; first, when the SUT has a queue gauge, scrape faster until it reads
        empty or ``drain_bound_s`` passes, so the drain is observed rather than guessed."""
        if self._thread.is_alive() and self.last_queue is not None and self.queue_gauge:
            self._draining.set()
            self._wake.set()
            if not self._drained.wait(self.drain_bound_s):
                self.events.emit(
                    "warning",
                    message=f"the SUT queue had not drained {self.drain_bound_s:g} s after "
                    f"the load stopped (last {self.last_queue:g})",
                )
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        warned = False
        next_at = time.monotonic()
        with (
            httpx.Client(timeout=max(self.interval_s, 0.5), trust_env=False) as client,
            self.out_path.open("ab", buffering=0) as out,
        ):
            while not self._stop.is_set():
                t = time.time()
                try:
                    response = client.get(self.url)
                    response.raise_for_status()
                    samples = parse_prometheus_text(response.text)
                except httpx.HTTPError as exc:
                    self.failures += 1
                    if not warned:
                        warned = True
                        self.events.emit("warning", message=f"{self.name} failed: {exc}")
                    if self._draining.is_set():
                        self._drained.set()  # the SUT no longer answers: nothing more to learn
                else:
                    self.scrapes += 1
                    queue: float | None = None
                    lines: list[str] = []
                    for name, labels, value in samples:
                        if math.isfinite(value):
                            record = {"t": t, "name": name, "labels": labels, "value": value}
                            lines.append(json.dumps(record) + "\n")
                            if name == self.queue_gauge:
                                queue = (queue or 0.0) + value
                    # One append per scrape: scrapers of several mocks share one file, and an
                    # O_APPEND write of whole lines never interleaves with another's.
                    out.write("".join(lines).encode())
                    self.last_queue = queue
                    if self._draining.is_set() and queue is not None and queue <= 0:
                        self._drained.set()
                if self._draining.is_set():
                    self._stop.wait(self.drain_interval_s)
                    continue
                next_at += self.interval_s
                # Woken early by stop(): the drain phase starts at once.
                self._wake.wait(max(0.0, next_at - time.monotonic()))
