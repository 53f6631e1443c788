"""Request traces: ``brownout trace`` and the summary's worst requests, the JUnit verdict cases
and the report's explaining sections, on a hand-built run with known calls."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.analysis import analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.report.html import render_html
from harness.report.junit import render_junit


def build(w: RunDirWriter) -> tuple[str, str]:
    w.event(0.0, "load_started", users=1)
    w.fault("errors", 10.0, 20.0)
    w.fault("slow-net", 10.0, 20.0, kind="latency", target="proxy/openai")
    w.event(30.0, "load_stopped", users=1)
    for i in range(5):
        rid = w.request(2.0 + i)
        w.provider_call(2.01 + i, request_id=rid)
    slow = w.request(12.0, latency_ms=900.0, ok=False, status=502)
    for at in (12.0, 12.001, 12.002, 12.003):
        w.provider_call(at, request_id=slow, status=500, fault="errors", latency_ms=1.0)
    quick = w.request(14.0, latency_ms=120.0)
    w.provider_call(14.01, request_id=quick)
    w.close()
    return slow, quick


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120
    )


def test_trace_of_one_request_and_of_the_worst(run_writer: RunDirWriter) -> None:
    w = run_writer
    slow, quick = build(w)
    summary = analyze_run(w.run_dir, [])
    worst = summary.worst_requests[0]
    assert worst.request_id == slow and worst.why == "slowest #1" and worst.phase == "fault"
    assert [c.status for c in worst.calls] == [500, 500, 500, 500]
    assert worst.calls[0].fault == "errors" and worst.calls[0].toxics == ["slow-net"]
    assert any(line.phase == "fault" and "errors" in line.path for line in summary.impact)

    one = run_cli("trace", str(w.run_dir), quick)
    assert one.returncode == 0, one.stderr
    assert quick in one.stdout and one.stdout.count("call ") == 1
    every = run_cli("trace", str(w.run_dir))
    assert every.returncode == 0 and slow in every.stdout and "met errors, slow-net" in every.stdout
    missing = run_cli("trace", str(w.run_dir), "no-such-id")
    assert missing.returncode == 2 and "no request 'no-such-id'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_verdicts_in_junit_and_report(run_writer: RunDirWriter) -> None:
    w = run_writer
    slow, _ = build(w)
    summary = analyze_run(w.run_dir, [])
    root = ET.parse(render_junit(summary, w.run_dir)).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    (resilience,) = [s for name, s in suites.items() if str(name).endswith(".resilience")]
    failed = [c.get("name") for c in resilience.iter("testcase") if c.find("failure") is not None]
    assert "backoff: gaps grow between attempts" not in failed  # 1 chain: not judged, not shown
    assert any("attempts per call capped" in str(name) for name in failed)
    assert root.get("tests") == str(sum(int(s.get("tests", "0")) for s in suites.values()))
    page = Path(render_html(summary, w.run_dir)).read_text(encoding="utf-8")
    for anchor in ('id="resilience"', 'id="cost"', 'id="worst"', f'id="trace-{slow}"'):
        assert anchor in page
