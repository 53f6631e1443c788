"""Synthetic run directories: write the run-directory files with numbers you choose.

Tests of analysis and reports need runs whose metrics are known exactly, and the report needs a
demo run to show without starting the whole stack; both write the same files a real run writes
(docs/architecture.md), through ``RunDirWriter``. Times are given as seconds after ``t0`` and
written as epoch seconds, like the real writers do.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import numpy as np

__all__ = ["DEMO_T0", "RunDirWriter", "write_demo_run"]

#: An arbitrary fixed epoch (2025-11-26) so synthetic runs are reproducible.
DEMO_T0: Final = 1_764_160_000.0


class RunDirWriter:
    """Appends rows to a run directory's JSONL files; use as a context manager."""

    def __init__(self, run_dir: Path, *, t0: float = DEMO_T0) -> None:
        self.run_dir = run_dir
        self.t0 = t0
        run_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {}
        self._request_seq = 0

    def _write(self, name: str, row: dict[str, Any]) -> None:
        handle = self._files.get(name)
        if handle is None:
            handle = self._files[name] = (self.run_dir / name).open("a", encoding="utf-8")
        handle.write(json.dumps(row, separators=(",", ":")) + "\n")

    def event(self, at: float, type: str, **keys: Any) -> None:
        self._write("events.jsonl", {"t": self.t0 + at, "type": type, **keys})

    def fault(
        self,
        name: str,
        applied: float,
        removed: float | None,
        *,
        kind: str = "error",
        target: str = "provider/openai",
        planned_applied: float | None = None,
        planned_removed: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """A fault_applied (and fault_removed unless ``removed`` is None) pair of events."""
        common = {"fault": name, "kind": kind, "target": target, "params": params or {}}
        planned = applied if planned_applied is None else planned_applied
        self.event(applied, "fault_applied", planned_t=self.t0 + planned, **common)
        if removed is not None:
            planned = removed if planned_removed is None else planned_removed
            self.event(removed, "fault_removed", planned_t=self.t0 + planned, **common)

    def request(
        self,
        at: float,
        latency_ms: float = 100.0,
        *,
        ok: bool = True,
        status: int | None = None,
        error_class: str | None = None,
        request_id: str | None = None,
        valid: bool | None = None,
        name: str = "POST /ask",
        ttft_ms: float | None = None,
    ) -> str:
        """One requests.jsonl row; returns its request_id (generated unless given)."""
        if request_id is None:
            self._request_seq += 1
            request_id = f"req-{self._request_seq:08d}"
        if status is None:
            status = 200 if ok else 500
        if not ok and error_class is None:
            error_class = f"http_{status}" if status else "connection"
        self._write(
            "requests.jsonl",
            {
                "t_start": self.t0 + at,
                "t_end": self.t0 + at + latency_ms / 1000.0,
                "name": name,
                "status": status,
                "ok": ok,
                "latency_ms": latency_ms,
                "ttft_ms": ttft_ms,
                "bytes": 100,
                "error": None if ok else error_class,
                "error_class": None if ok else error_class,
                "request_id": request_id,
                "valid": valid,
            },
        )
        return request_id

    def provider_call(
        self,
        at: float,
        *,
        request_id: str | None = None,
        status: int = 200,
        tokens_in: int = 10,
        tokens_out: int = 5,
        in_flight: int = 1,
        latency_ms: float = 50.0,
        fault: str | None = None,
        stream_completed: bool | None = None,
        retry_count: int | None = None,
        fingerprint: str = "0" * 16,
        provider: str = "openai",
    ) -> None:
        self._write(
            "provider_calls.jsonl",
            {
                "t": self.t0 + at,
                "t_end": self.t0 + at + latency_ms / 1000.0,
                "provider": "openai",
                "name": provider,
                "endpoint": "/v1/chat/completions",
                "method": "POST",
                "model": "gpt-4o-mini",
                "request_id": request_id,
                "traceparent": None,
                "retry_count": retry_count,
                "fingerprint": fingerprint,
                "status": status,
                "fault": fault,
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "latency_ms": latency_ms,
                "stream": stream_completed is not None,
                "stream_completed": stream_completed,
                "in_flight": in_flight,
            },
        )

    def sut_metric(self, at: float, value: float, *, name: str = "sut_queue_depth") -> None:
        self._write(
            "sut_metrics.jsonl", {"t": self.t0 + at, "name": name, "labels": {}, "value": value}
        )

    def provider_metric(
        self,
        at: float,
        value: float,
        *,
        name: str = "brownout_mock_queue_depth",
        provider: str = "llm",
    ) -> None:
        """One scraped sample of a mock's ``/_brownout/metrics`` (provider_metrics.jsonl)."""
        labels = {"provider": "openai", "name": provider}
        self._write(
            "provider_metrics.jsonl",
            {"t": self.t0 + at, "name": name, "labels": labels, "value": value},
        )

    def run_info(self, **keys: Any) -> None:
        info = {
            "brownout_version": "0.1.0",
            "run_id": self.run_dir.name,
            "scenario": "synthetic",
            "seed": 0,
            "time_scale": 1.0,
            "host": {},
            "started_at": self.t0,
            "ended_at": None,
            "exit_status": 0,
            "complete": True,
            "aborted": False,
            "components": {},
        }
        info.update(keys)
        (self.run_dir / "run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    def scenario_yaml(self, text: str) -> None:
        (self.run_dir / "scenario.yaml").write_text(text, encoding="utf-8")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> RunDirWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


DEMO_SCENARIO: Final = """\
name: demo-provider-brownout
description: A provider returns 503s for 20 s; the SUT retries naively.
duration: 90s
warmup: 10s
providers:
  openai: {}
proxies:
  openai: {upstream: openai}
sut:
  url: http://127.0.0.1:8000
faults:
  - {name: provider-errors, target: provider/openai, type: error, at: 40s, for: 20s}
  - name: slow-network
    target: proxy/openai
    type: latency
    at: 48s
    for: 8s
    attributes: {latency: 400}
slos:
  - name: retry amplification in fault
    metric: retry_amplification
    phase: fault
    max: 1.5
  - name: baseline p95 latency
    metric: latency_p95_ms
    phase: baseline
    max: 800
  - name: error rate in fault
    metric: error_rate
    phase: fault
    max: 0.2
  - name: recovers within 15 s
    metric: recovery_time_s
    phase: recovery
    max: 15
"""


def write_demo_run(run_dir: Path, *, seed: int = 7, rate_rps: float = 20.0) -> Path:
    """A 90 s run: warm-up 10 s, baseline to 40 s, a 503 fault 40-60 s (retried up to 3
    times, queue building up), then a recovery that drains the backlog in about 10 s."""
    rng = np.random.default_rng(seed)
    with RunDirWriter(run_dir) as w:
        w.scenario_yaml(DEMO_SCENARIO)
        w.run_info(scenario="demo-provider-brownout")
        w.event(0.0, "run_started", run_id=run_dir.name, scenario="demo-provider-brownout")
        w.event(0.5, "load_started", users=20)
        w.event(0.5, "phase", name="warmup")
        w.event(10.5, "phase", name="baseline")
        w.event(40.5, "phase", name="fault")
        w.fault(
            "provider-errors",
            40.52,
            60.55,
            planned_applied=40.5,
            planned_removed=60.5,
            params={"status": 503, "probability": 0.6},
        )
        w.fault(
            "slow-network",
            48.0,
            56.03,
            kind="latency",
            target="proxy/openai",
            planned_applied=48.0,
            planned_removed=56.0,
            params={"latency": 400},
        )
        w.event(60.55, "phase", name="recovery")
        # The SUT's queue grows while the provider fails and drains after the fault ends.
        queue_by_second: list[float] = []
        queue = 0.0
        for second in range(93):
            if 40 <= second < 61:
                queue = min(queue + 3.0, 60.0)
            elif queue > 0:
                queue = max(queue - 6.0, 0.0)
            queue_by_second.append(queue)
            w.sut_metric(second + 0.25, queue)
        t = 0.5
        while True:
            t += float(rng.exponential(1.0 / rate_rps))
            if t >= 90.5:
                break
            in_fault = 40.52 <= t < 60.55
            slow = 48.0 <= t < 56.03
            backlog = 60.55 <= t < 70.0
            base_latency = float(rng.gamma(4.0, 60.0))
            attempts = 1
            ok = True
            if in_fault:
                attempts = 1 + int(rng.binomial(3, 0.6))
                ok = attempts < 4 or rng.random() > 0.6
                base_latency += 250.0 * (attempts - 1) + (400.0 if slow else 0.0)
            elif backlog:
                base_latency *= 1.0 + 2.0 * (70.0 - t) / 10.0
            rid = w.request(
                t,
                base_latency,
                ok=ok,
                status=200 if ok else 503,
                valid=True if ok else None,
            )
            for k in range(attempts):
                failed = (in_fault and k < attempts - 1) or (not ok and k == attempts - 1)
                w.provider_call(
                    t + 0.01 + 0.25 * k,
                    request_id=rid,
                    status=503 if failed else 200,
                    tokens_in=40,
                    tokens_out=0 if failed else 120,
                    in_flight=1 + int(queue_by_second[int(t)] / 4) + int(rng.integers(0, 3)),
                    fault="provider-errors" if failed else None,
                )
        w.event(90.5, "load_stopped", users=20)
        w.event(91.0, "run_ended", status="ok")
    return run_dir
