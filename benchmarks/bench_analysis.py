"""Benchmark: ``brownout report`` on a synthetic run of 1 M user requests and 3 M provider calls.

The attribution join (every provider call joined to the user request that caused it) must not
cost the analysis its scale. This writes a run directory whose every call carries its request's
id, as a real run's do, then times ``brownout report DIR`` in a subprocess (analysis, summary,
HTML with charts, JUnit, Markdown), reads its peak RSS and its per-stage times, and checks a
figure the run has by construction (fault amplification 2.00), so a broken analysis cannot
look fast. "s/M rows" is seconds per million rows (requests + calls): flat means linear. It
repeats at 0.25x, 0.5x and 1x so the growth is visible (goal: linear, and at 1x at most 30 s
and 2 GB on a 2-core machine).

The run: 1,000 requests/s for 1,000 s times the scale; warm-up 10 s; a fault from 40 % to 60 %
of the run. Outside the fault each request makes an embedding call and a chat call, and half of them
retry the chat once (2.5 calls); during the fault every request makes an embedding call and
four chat attempts (5 calls): 3.0 calls per request on average.

Usage: python benchmarks/bench_analysis.py [--scales 0.25,0.5,1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis.stage_times import STAGE_TIMES_ENV

T0 = 1_764_160_000.0
RATE = 1_000.0
FULL_REQUESTS = 1_000_000
CHUNK = 100_000
SCENARIO = """\
name: bench-analysis
duration: {d}s
warmup: 10s
load:
  users: 100
  request:
    path: /ask
providers:
  openai:
    flavour: openai
sut:
  url: http://127.0.0.1:9
faults:
  - name: provider-500s
    target: provider/openai
    type: error
    params:
      status: 500
    at: {a}s
    for: {f}s
slos:
  - metric: retry_amplification
    phase: fault
    max: 1.5
"""
FAULT_FIELD = {200: "null", 500: '"provider-500s"'}


def write_run(run_dir: Path, scale: float, seed: int = 11) -> tuple[int, int]:
    """The synthetic run directory; returns (requests, calls) written."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True)
    n = int(FULL_REQUESTS * scale)
    duration = n / RATE
    fault_at, fault_end = 0.4 * duration, 0.6 * duration
    scenario = SCENARIO.format(d=duration, a=fault_at, f=fault_end - fault_at)
    (run_dir / "scenario.yaml").write_text(scenario, encoding="utf-8")
    run_info = {"run_id": "bench", "scenario": "bench-analysis", "complete": True}
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    events = [
        {"t": T0, "type": "load_started", "users": 100},
        {"t": T0 + fault_at, "type": "fault_applied", "fault": "provider-500s", "planned_t": 0},
        {"t": T0 + fault_end, "type": "fault_removed", "fault": "provider-500s", "planned_t": 0},
        {"t": T0 + duration, "type": "load_stopped", "users": 100},
    ]
    (run_dir / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events), encoding="utf-8"
    )
    calls_written = 0
    with (
        (run_dir / "requests.jsonl").open("w", encoding="utf-8") as requests,
        (run_dir / "provider_calls.jsonl").open("w", encoding="utf-8") as calls,
    ):
        for start in range(0, n, CHUNK):
            count = min(CHUNK, n - start)
            t = T0 + (start + np.arange(count)) / RATE
            offset = t - T0
            in_fault = (offset >= fault_at) & (offset < fault_end)
            latency = rng.gamma(4.0, 50.0, count) + np.where(in_fault, 600.0, 0.0)
            retry = rng.random(count) < 0.5
            ok = ~in_fault | (rng.random(count) < 0.3)
            req_lines = []
            call_lines = []
            for i in range(count):
                rid = f"{start + i:032x}"
                lat = float(latency[i])
                t_start = float(t[i])
                good = bool(ok[i])
                req_lines.append(
                    f'{{"t_start":{t_start:.6f},"t_end":{t_start + lat / 1000:.6f},'
                    f'"name":"POST /ask","status":{200 if good else 502},'
                    f'"ok":{"true" if good else "false"},"latency_ms":{lat:.3f},'
                    f'"ttft_ms":null,"bytes":512,"error":null,'
                    f'"error_class":{"null" if good else chr(34) + "http_502" + chr(34)},'
                    f'"request_id":"{rid}","valid":{"true" if good else "null"}}}\n'
                )
                chats = 4 if in_fault[i] else (2 if retry[i] else 1)
                kinds = [("/v1/embeddings", 200)]
                for attempt in range(chats):
                    failed = in_fault[i] and (attempt < 3 or not good)
                    failed = failed or (not in_fault[i] and attempt == 0 and chats == 2)
                    kinds.append(("/v1/chat/completions", 500 if failed else 200))
                for k, (endpoint, status) in enumerate(kinds):
                    at = t_start + 0.002 + k * lat / 1000 / (len(kinds) + 1)
                    call_lines.append(
                        f'{{"t":{at:.6f},"t_end":{at + 0.01:.6f},"provider":"openai",'
                        f'"name":"openai","endpoint":"{endpoint}","method":"POST",'
                        f'"model":"gpt-4o-mini","request_id":"{rid}","traceparent":null,'
                        f'"retry_count":null,"fingerprint":"{endpoint}{status}",'
                        f'"status":{status},"fault":{FAULT_FIELD[status]},'
                        f'"tokens_in":12,"tokens_out":{20 if status == 200 else 0},'
                        f'"latency_ms":10.0,"stream":false,"stream_completed":null,'
                        f'"in_flight":{1 + k}}}\n'
                    )
            requests.writelines(req_lines)
            calls.writelines(call_lines)
            calls_written += len(call_lines)
    return n, calls_written


STAGES = ("load", "join", "metrics", "resilience", "cost", "traces", "impact", "render")


def measure(run_dir: Path) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """(wall seconds, peak RSS in MB, stage -> (wall, cpu) seconds) of ``brownout report``.

    The stages come from the report itself (``BROWNOUT_STAGE_TIMES``,
    harness/analysis/stage_times.py); "other" is the rest: start-up, imports, SLOs, writing.
    """
    times = run_dir.parent / f"{run_dir.name}.stages.jsonl"
    times.unlink(missing_ok=True)
    env = {**os.environ, STAGE_TIMES_ENV: str(times)}
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "harness", "report", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"brownout report failed with exit code {result.returncode}")
    # ru_maxrss of children is the largest child so far: scales go smallest first, so it is ours.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cpu = _children_cpu() - cpu_before
    split: dict[str, tuple[float, float]] = {}
    for line in times.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        w, c = split.get(row["stage"], (0.0, 0.0))
        split[row["stage"]] = (w + row["wall_s"], c + row["cpu_s"])
    times.unlink()
    known = sum(w for w, _ in split.values())
    split["other"] = (wall - known, cpu - sum(c for _, c in split.values()))
    split["total"] = (wall, cpu)
    return wall, peak_mb, split


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_figures(summary: dict[str, Any]) -> float:
    """The figures this synthetic run has by construction: a fast but broken analysis fails.

    Fault-phase requests make 5 calls, baseline ones 2.5 on average (half retry once), so the
    fault amplification is 2.00; every call carries its request's id, so the method is
    attribution.
    """
    amp = summary["phases"]["fault"]["retry_amplification"]
    method = summary["amplification"]["method"]
    if method != "attributed" or amp is None or abs(amp - 2.0) > 0.02:
        raise SystemExit(f"wrong analysis: fault amplification {amp} by {method!r}, expected 2.00")
    return float(amp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.25,0.5,1", help="comma-separated, ascending")
    parser.add_argument("--keep", type=Path, default=None, help="write run directories here")
    args = parser.parse_args()
    scales = sorted(float(s) for s in args.scales.split(","))
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    print(f"load average at start: {_loadavg()}", flush=True)
    header = (
        f"{'scale':>6} {'requests':>10} {'calls':>10} {'report s':>9} {'peak MB':>8} "
        f"{'s/M rows':>8}  " + " ".join(f"{s:>10}" for s in (*STAGES, "other", "total"))
    )
    print(header + "   (stage: wall s, cpu s in brackets)")
    try:
        for scale in scales:
            run_dir = base / f"run-{scale:g}"
            if run_dir.exists():
                shutil.rmtree(run_dir)
            requests, calls = write_run(run_dir, scale)
            wall, peak_mb, split = measure(run_dir)
            summary = json.loads((run_dir / "summary.json").read_text())
            amp = check_figures(summary)
            rows_m = (requests + calls) / 1e6
            stages = " ".join(_cell(split.get(s, (0.0, 0.0))) for s in (*STAGES, "other", "total"))
            print(
                f"{scale:>6g} {requests:>10,} {calls:>10,} {wall:>9.1f} {peak_mb:>8.0f} "
                f"{wall / rows_m:>8.2f}  {stages}   (fault amplification {amp:.2f}; "
                f"load average {_loadavg()})",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def _cell(times: tuple[float, float]) -> str:
    wall, cpu = times
    return f"{wall:>4.1f}" + ("" if cpu != cpu else f"[{cpu:.1f}]").rjust(6)


def _loadavg() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
