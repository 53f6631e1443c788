"""Ground truth for the load driver: figures computed by hand from SUTs with known behaviour.

Real Locust (the brownout locustfile in a subprocess) against real HTTP servers on 127.0.0.1
(tests/load/load_groundtruth_sut.py). Windows are taken well inside the run so start-up and
shutdown do not count; the tolerances are the issue's (3% for rates, 10% for queue growth).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from load_groundtruth_sut import QueueSUT, RetrySUT, SlowProvider, serving
from load_support import RunLocust

from harness.load import LoadConfig, RequestRecord, read_records

RATE = 40.0  # open-model arrivals per second


def open_config(host: str, requests_file: Path, **overrides: object) -> LoadConfig:
    fields: dict[str, object] = {
        "host": host,
        "model": "open",
        "rate": RATE,
        "arrivals": "constant",
        "run_time_s": 5,
        "requests_file": str(requests_file),
        "stop_timeout_s": 1,
        "seed": 7,
    }
    fields.update(overrides)
    return LoadConfig.from_dict(fields)


def rate_in(times: list[float], start: float, end: float) -> float:
    return sum(start <= t < end for t in times) / (end - start)


def test_open_rate_times_attempts_reaches_the_provider(
    run_locust: RunLocust, tmp_path: Path
) -> None:
    # An SUT that makes exactly 1 + 2 attempts per request when every call fails: at an open
    # rate R the provider sees R * 3 calls per second, however slow each call is (0.25 s here,
    # so a request takes 0.75 s and about 30 are in flight at once).
    retries = 2
    provider = SlowProvider(latency_s=0.25, status=500)
    requests_file = tmp_path / "requests.jsonl"
    with serving(provider) as provider_url, serving(RetrySUT(provider_url, retries)) as sut_url:
        result = run_locust(open_config(sut_url, requests_file, rate=20.0))
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(requests_file))
    t0 = rows[0].t_start
    # Requests due in [1 s, 3.5 s) have all their attempts inside the run.
    window = (t0 + 1.0, t0 + 3.5)
    request_rate = rate_in([r.t_start for r in rows], *window)
    assert request_rate == pytest.approx(20.0, rel=0.03)
    call_rate = rate_in(provider.calls, window[0] + 0.5, window[1] + 0.5)
    assert call_rate == pytest.approx(20.0 * (1 + retries), rel=0.03), (request_rate, call_rate)
    assert all(r.error_class == "http_502" for r in rows)


class SlowdownAfterFirstCall:
    """Slows the provider to ``latency_s`` ``after_s`` after the first call reached it."""

    def __init__(self, provider: SlowProvider, after_s: float, latency_s: float) -> None:
        self.provider = provider
        self.after_s = after_s
        self.latency_s = latency_s
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.provider.calls and not self._stop.wait(0.005):
            pass
        if self.provider.calls:
            self.at = self.provider.calls[0] + self.after_s
            self._stop.wait(max(0.0, self.at - time.time()))
            self.provider.latency_s = self.latency_s

    def __enter__(self) -> SlowdownAfterFirstCall:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


CONCURRENCY = 4
SLOW_S = 0.2  # C / L = 20 requests/s of capacity once slowed


@contextmanager
def queue_sut() -> Iterator[tuple[str, SlowProvider, QueueSUT]]:
    provider = SlowProvider(latency_s=0.005)
    with serving(provider) as provider_url:
        sut = QueueSUT(provider_url, CONCURRENCY)
        with serving(sut) as sut_url:
            yield sut_url, provider, sut


def send_rate(rows: list[RequestRecord], start: float, end: float) -> float:
    return rate_in([r.t_start for r in rows], start, end)


@pytest.mark.slow
def test_open_load_builds_the_backlog_closed_load_hides(
    run_locust: RunLocust, tmp_path: Path
) -> None:
    requests_file = tmp_path / "open" / "requests.jsonl"
    with (
        queue_sut() as (sut_url, provider, sut),
        SlowdownAfterFirstCall(provider, after_s=1.5, latency_s=SLOW_S) as slowdown,
    ):
        result = run_locust(open_config(sut_url, requests_file, run_time_s=5))
    assert result.returncode == 0, result.stderr[-3000:]
    assert slowdown.at is not None

    # Open: the rate at which requests reach the SUT does not care that it slowed down (the
    # requests still queued when the load stops have no record yet: count them at the SUT)...
    before = rate_in(sut.arrivals, slowdown.at - 1.0, slowdown.at)
    after = rate_in(sut.arrivals, slowdown.at + 0.5, slowdown.at + 3.0)
    assert before == pytest.approx(RATE, rel=0.03)
    assert after == pytest.approx(RATE, rel=0.03)
    # ...so the SUT's queue grows at R - C/L per second.
    log = np.array([(t, d) for t, d in sut.depth_log if slowdown.at + 0.5 <= t < slowdown.at + 3.0])
    slope = float(np.polyfit(log[:, 0], log[:, 1], 1)[0])
    expected = RATE - CONCURRENCY / SLOW_S
    assert slope == pytest.approx(expected, rel=0.10), (slope, expected)

    # Closed: the same slowdown throttles the load itself to the SUT's capacity.
    closed_file = tmp_path / "closed" / "requests.jsonl"
    with queue_sut() as (sut_url, provider, sut):
        closed = LoadConfig.from_dict(
            {
                "host": sut_url,
                "users": 8,
                "spawn_rate": 100,
                "run_time_s": 5,
                "requests_file": str(closed_file),
                "stop_timeout_s": 1,
            }
        )
        with SlowdownAfterFirstCall(provider, after_s=1.5, latency_s=SLOW_S) as slowdown:
            result = run_locust(closed)
    assert result.returncode == 0, result.stderr[-3000:]
    assert slowdown.at is not None
    rows = list(read_records(closed_file))
    before = send_rate(rows, slowdown.at - 1.0, slowdown.at)
    after = send_rate(rows, slowdown.at + 0.5, slowdown.at + 3.0)
    capacity = CONCURRENCY / SLOW_S
    assert after <= capacity * 1.1, (before, after)
    assert after < before / 2, (before, after)
