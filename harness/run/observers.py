"""Scrapes the SUT's Prometheus ``/metrics`` every second into ``sut_metrics.jsonl``.

An observer must never take the run down: a failed scrape is counted and logged once as a
warning event, and scraping goes on.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from pathlib import Path

import httpx

from harness.run.events import EventLog

__all__ = ["MetricSample", "MetricScraper", "parse_prometheus_text"]

MetricSample = tuple[str, dict[str, str], float]

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$"
)
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_prometheus_text(text: str) -> list[MetricSample]:
    """Samples of the Prometheus text exposition format; malformed lines are skipped."""
    samples: list[MetricSample] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        labels: dict[str, str] = {}
        if match.group("labels"):
            for key, val in _LABEL.findall(match.group("labels")):
                labels[key] = val.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        samples.append((match.group("name"), labels, value))
    return samples


class MetricScraper:
    def __init__(
        self, url: str, out_path: Path, events: EventLog, *, interval_s: float = 1.0
    ) -> None:
        self.url = url
        self.out_path = out_path
        self.events = events
        self.interval_s = interval_s
        self.scrapes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metric-scraper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        warned = False
        next_at = time.monotonic()
        with (
            httpx.Client(timeout=max(self.interval_s, 0.5), trust_env=False) as client,
            self.out_path.open("a", encoding="utf-8") as out,
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
                        self.events.emit("warning", message=f"metrics scrape failed: {exc}")
                else:
                    self.scrapes += 1
                    for name, labels, value in samples:
                        if math.isfinite(value):
                            record = {"t": t, "name": name, "labels": labels, "value": value}
                            out.write(json.dumps(record) + "\n")
                    out.flush()
                next_at += self.interval_s
                self._stop.wait(max(0.0, next_at - time.monotonic()))
