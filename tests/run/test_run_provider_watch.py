"""The orchestrator watches the mock providers: their own metrics (the provider queue) are
scraped into provider_metrics.jsonl and charted beside the SUT's queue, and their processes'
CPU is sampled into provider_health.jsonl; a mock that saturates makes the run invalid. One real
run (a real two-worker mock, real SUT, real Locust), the mock made to saturate on purpose with
its test-only knob (each call burns CPU on its event loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.testing import run_scenario_file
from mock_providers.app import BURN_ENV

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def scenario() -> dict[str, Any]:
    """Four users, no think time, a SUT with four workers and a provider with one slot and
    200 ms per call: three calls wait at the provider nearly all the time."""
    return {
        "name": "provider-watch",
        "seed": 7,
        "duration": "8s",
        "warmup": "1s",
        "load": {
            "model": "closed",
            "users": 4,
            "timeout": "30s",
            "request": {"method": "POST", "path": "/ask", "json": {"question": "q?"}},
        },
        "providers": {
            "llm": {
                "flavour": "openai",
                "ttft": "200ms",
                "capacity": {"max_concurrency": 1},
                "workers": 2,
            }
        },
        "sut": {
            "command": f"{{python}} {ROOT}/examples/rag_sut/app.py --port 0 "
            "--provider-url {provider.llm.url}/v1 --policy naive --workers 4",
            "health": "/healthz",
            "metrics": "/metrics",
        },
    }


def test_provider_queue_is_charted_and_a_saturated_mock_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 250 ms of CPU per call on the loop: whichever 100 ms tick falls due during a burn wakes
    # 100 ms or more late, every second calls arrive.
    monkeypatch.setenv(BURN_ENV, "250")
    outcome = run_scenario_file(scenario(), reports_dir=tmp_path)
    run_dir = outcome.run_dir
    metrics = read_jsonl(run_dir / "provider_metrics.jsonl")
    queue = [m for m in metrics if m["name"] == "brownout_mock_queue_depth"]
    assert len(queue) >= 4, "one scrape a second for the whole run"
    assert {m["labels"]["name"] for m in queue} == {"llm"}
    assert max(m["value"] for m in queue) >= 1, "four workers, one slot: calls must wait"
    assert any(m["name"] == "brownout_mock_serving" and m["value"] == 1 for m in metrics)
    # The same samples, per window, in the summary the report charts from.
    series = outcome.summary.timeseries
    assert len(series.provider_queue_depth) == len(series.t)
    assert max(v for v in series.provider_queue_depth if v is not None) >= 1
    health = read_jsonl(run_dir / "provider_health.jsonl")
    assert {h["name"] for h in health} == {"llm"}
    assert len({h["pid"] for h in health}) >= 3, "the mock's parent and its two workers"
    lags = {m["labels"]["pid"] for m in metrics if m["name"] == "brownout_mock_loop_lag_seconds"}
    assert len(lags) == 2, "each worker reports its own loop"
    assert not outcome.summary.valid
    saturated = [p for p in outcome.summary.validity_problems if "mock provider 'llm'" in p]
    assert saturated and "saturated" in saturated[0], outcome.summary.validity_problems
    events = read_jsonl(run_dir / "events.jsonl")
    assert any(
        e["type"] == "warning" and e.get("source") == "provider" and e.get("invalidates")
        for e in events
    )
