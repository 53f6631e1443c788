"""The verdicts on a mock provider's health: sustained CPU saturation of one of its
processes, or an event loop that wakes late, invalidates a run; one busy second does not."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psutil

from harness.run.provider_health import (
    LOOP_LAG_GAUGE,
    ProviderHealthMonitor,
    ProviderHealthSample,
    loop_lag_saturation,
    provider_saturation,
)
from tests.conftest import wait_until


def test_cpu_saturation_needs_two_busy_samples_of_one_process() -> None:
    one_busy = [
        ProviderHealthSample(1.0, "llm", 10, 99.0),
        ProviderHealthSample(2.0, "llm", 10, 20.0),
        ProviderHealthSample(2.0, "llm", 11, 95.0),  # another worker: counted on its own
    ]
    assert provider_saturation(one_busy) == []
    busy = [*one_busy, ProviderHealthSample(3.0, "llm", 10, 97.0)]
    (problem,) = provider_saturation(busy)
    assert "'llm'" in problem and "process 10" in problem and "up to 99%" in problem


def test_loop_lag_from_the_scraped_metrics(tmp_path: Path) -> None:
    path = tmp_path / "provider_metrics.jsonl"
    rows = [
        (1.0, 0.3, "1"),
        (2.0, 0.25, "1"),
        (2.5, 0.35, "1"),
        (3.0, 0.4, "2"),  # worker 2 late once only
        (9.0, 0.5, "1"),  # outside the measured window
    ]
    # Worker 3 late in 3 scrapes out of 40: a busy machine's hiccups, not saturation.
    rows += [(1.0 + i * 0.1, 0.2 if i % 15 == 0 else 0.001, "3") for i in range(40)]
    with path.open("w", encoding="utf-8") as handle:
        for t, lag, pid in rows:
            labels = {"provider": "openai", "name": "llm", "pid": pid}
            handle.write(
                json.dumps({"t": t, "name": LOOP_LAG_GAUGE, "labels": labels, "value": lag})
            )
            handle.write("\n")
    (problem,) = loop_lag_saturation(path, 0.0, 5.0)
    assert "process 1" in problem and "3 scrape(s)" in problem and "350 ms" in problem
    assert loop_lag_saturation(path, 0.0, 2.2) == []  # two late scrapes are not sustained
    assert loop_lag_saturation(tmp_path / "missing.jsonl", 0.0, 5.0) == []


def test_monitor_samples_every_process_under_the_root(tmp_path: Path) -> None:
    """A real process tree: this test's own pid as the root, a busy child under it."""
    child = psutil.Popen(["python3", "-c", "while True: pass"])
    try:
        out = tmp_path / "provider_health.jsonl"
        monitor = ProviderHealthMonitor({"llm": os.getpid()}, out, interval_s=0.2)
        monitor.start()

        def child_sampled() -> bool:
            lines = out.read_text().splitlines() if out.exists() else []
            return any(json.loads(line)["pid"] == child.pid for line in lines[1:])

        wait_until(child_sampled, 30, what="the child's CPU sampled")
        time.sleep(0.5)
        monitor.stop()
        samples = [json.loads(line) for line in out.read_text().splitlines()]
        mine = [s for s in samples if s["pid"] == child.pid]
        assert mine and all(s["name"] == "llm" for s in mine)
        assert max(s["cpu_percent"] for s in mine) > 0  # a busy loop uses CPU
    finally:
        child.kill()
        child.wait()
