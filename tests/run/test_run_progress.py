"""The live view of a run: figures tailed from the run directory while it is written, a rich
table on a terminal, plain lines in a CI log."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from harness.run.progress import LiveStats, ProgressDisplay
from harness.scenario import parse_scenario
from tests.conftest import wait_until

SCENARIO = parse_scenario(
    """
name: live
duration: 30s
warmup: 2s
sut: {url: "http://127.0.0.1:9"}
providers: {openai: {}}
faults:
  - {name: boom, target: provider/openai, type: error, at: 10s, for: 10s}
slos:
  - {metric: error_rate, phase: baseline, max: 0.01}
  - {metric: error_rate, phase: fault, max: 0.9}
  - {metric: retry_amplification, phase: fault, max: 1.5}
"""
)
T0 = 1_000_000.0


def append(path: Path, *rows: dict[str, object]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


def request(t: float, ok: bool, latency_ms: float = 100.0) -> dict[str, object]:
    return {"t_start": t, "t_end": t + latency_ms / 1000, "ok": ok, "latency_ms": latency_ms}


def write_until_fault(run_dir: Path) -> None:
    events = run_dir / "events.jsonl"
    append(events, {"t": T0, "type": "load_started"}, {"t": T0, "type": "phase", "name": "warmup"})
    append(events, {"t": T0 + 2, "type": "phase", "name": "baseline"})
    # Baseline: 1 call per request, one failure in 15 (above the 1% maximum).
    append(run_dir / "requests.jsonl", *(request(T0 + 2 + i * 0.4, ok=i != 3) for i in range(15)))
    append(run_dir / "provider_calls.jsonl", *({"t": T0 + 2 + i * 0.4} for i in range(15)))
    append(events, {"t": T0 + 10, "type": "phase", "name": "fault"})
    append(events, {"t": T0 + 10, "type": "fault_applied", "fault": "boom"})
    # Fault: 3 calls per request, half the requests fail, slower.
    append(
        run_dir / "requests.jsonl",
        *(request(T0 + 10 + i * 0.5, ok=i % 2 == 0, latency_ms=900) for i in range(8)),
    )
    append(run_dir / "provider_calls.jsonl", *({"t": T0 + 10 + i * 0.1} for i in range(24)))
    # A line still being written is not read until it ends.
    with (run_dir / "requests.jsonl").open("a", encoding="utf-8") as out:
        out.write('{"t_start": ')


def test_live_stats_follow_the_files(tmp_path: Path) -> None:
    write_until_fault(tmp_path)
    stats = LiveStats(tmp_path, SCENARIO)
    stats.update()
    snapshot = stats.snapshot(now=T0 + 14)
    stats.close()
    assert snapshot.phase == "fault"
    assert snapshot.elapsed_s == 14 and snapshot.total_s == 30
    assert snapshot.active_faults == ("boom",)
    # Last 5 s: the 8 fault-phase requests, half failed, successes took 900 ms.
    assert snapshot.rate_rps == 8 / 5
    assert snapshot.error_rate == 0.5
    assert snapshot.p95_ms == 900
    # The baseline is over and broke its bound; the fault phase's amplification is 3x already,
    # but a ratio can still move while the phase lasts, so only the finished phase counts.
    assert snapshot.failing_slos == ("error_rate in baseline <= 0.01",)
    line = snapshot.line()
    assert "t=14s/30s fault" in line and "faults=boom" in line and "failing=error_rate" in line


def test_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    display = ProgressDisplay(Console(file=out, force_terminal=False), plain_interval_s=0.05,
                              clock=lambda: T0 + 14)  # fmt: skip
    assert not display.live_mode
    display.message("provider openai at http://127.0.0.1:1")
    display.attach(tmp_path, SCENARIO)
    write_until_fault(tmp_path)
    try:
        wait_until(lambda: "faults=boom" in out.getvalue(), 30, what="a progress line")
    finally:
        display.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "brownout: provider openai at http://127.0.0.1:1"
    assert any(line.startswith("brownout: t=14s/30s fault") for line in lines)
    assert "┃" not in out.getvalue()  # no table in a log


def test_a_live_table_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    display = ProgressDisplay(console, clock=lambda: T0 + 14)
    assert display.live_mode
    write_until_fault(tmp_path)
    display.attach(tmp_path, SCENARIO)
    try:
        wait_until(lambda: "boom" in out.getvalue(), 30, what="the live table")
    finally:
        display.close()
    text = out.getvalue()
    assert "failing SLOs" in text and "error_rate in baseline" in text
    assert "brownout: t=" not in text  # never both
