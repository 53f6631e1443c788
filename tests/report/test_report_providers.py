"""The report's per-provider table, failover, per-fault goodput and latency, and load stages.

A synthetic run with known numbers: at baseline every request makes one call to ``primary``;
during the fault ``primary`` answers 503 and each request fails over to ``backup``; the load
steps from 10/s to 20/s at 30 s, so the charts must mark that stage.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from harness.analysis import Summary, analyze_run
from harness.analysis.synthetic import RunDirWriter
from harness.report import render_report

SCENARIO = """\
name: failover-demo
duration: 60s
providers:
  primary: {}
  backup: {}
sut:
  url: http://127.0.0.1:8000
faults:
  - {name: primary-down, target: provider/primary, type: error, at: 20s, for: 20s}
"""


def _write_run(run_dir: Path, *, stages: bool) -> Path:
    with RunDirWriter(run_dir) as w:
        w.scenario_yaml(SCENARIO)
        w.run_info(scenario="failover-demo")
        w.event(0.0, "run_started", run_id=run_dir.name, scenario="failover-demo")
        w.event(0.0, "load_started", rate=10)
        w.event(0.0, "phase", name="baseline")
        if stages:
            w.event(0.0, "load_stage", index=0, rate=10, ramp=False, duration_s=30.0)
            w.event(30.0, "load_stage", index=1, rate=20, ramp=False, duration_s=30.0)
        w.event(20.0, "phase", name="fault")
        w.fault("primary-down", 20.0, 40.0, target="provider/primary", params={"status": 503})
        w.event(40.0, "phase", name="recovery")
        for tenth in range(600):
            at = tenth / 10
            in_fault = 20.0 <= at < 40.0
            for extra in range(2 if at >= 30.0 else 1):  # the second stage doubles the rate
                start = at + extra * 0.05
                rid = w.request(start, 900.0 if in_fault else 100.0)
                if in_fault:
                    w.provider_call(
                        start + 0.01,
                        request_id=rid,
                        status=503,
                        provider="primary",
                        latency_ms=20.0,
                        fault="primary-down",
                    )
                    w.provider_call(
                        start + 0.05, request_id=rid, provider="backup", latency_ms=800.0
                    )
                else:
                    w.provider_call(start + 0.01, request_id=rid, provider="primary")
        w.event(60.0, "load_stopped")
        w.event(60.5, "run_ended", status="ok")
    return run_dir


@pytest.fixture(scope="module")
def failover_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Summary, str]:
    run_dir = _write_run(tmp_path_factory.mktemp("providers") / "run", stages=True)
    summary = analyze_run(run_dir)
    html = render_report(run_dir, summary)[0].read_text(encoding="utf-8")
    return run_dir, summary, html


def test_figures_per_provider_and_failover(failover_run: tuple[Path, Summary, str]) -> None:
    _, summary, _ = failover_run
    fault = summary.phases["fault"]
    # Fault phase: 100 requests in 20-30 s, 200 in 30-40 s (the baseline's in-flight
    # requests at 20 s join it by the boundary rule, none here: 100 ms each).
    assert fault.requests == 300
    primary, backup = fault.by_provider["primary"], fault.by_provider["backup"]
    assert (primary.calls, primary.failed_calls, primary.failover_calls) == (300, 300, 0)
    assert (backup.calls, backup.failed_calls, backup.failover_calls) == (300, 0, 300)
    assert fault.requests_failed_over == 300 and fault.failover_calls == 300
    assert backup.latency_p95_ms == pytest.approx(800.0, abs=1.0)
    assert primary.latency_p50_ms == pytest.approx(20.0, abs=1.0)
    assert summary.phases["baseline"].by_provider.keys() == {"primary"}
    assert [(s.index, s.rate) for s in summary.load_stages] == [(0, 10.0), (1, 20.0)]
    window = summary.faults[0]
    assert window.goodput_during_rps == pytest.approx(15.0, rel=0.02)  # 300 good in 20 s
    assert window.latency_p95_during_ms == pytest.approx(900.0, abs=1.0)


def test_report_shows_providers_failover_and_fault_impact(
    failover_run: tuple[Path, Summary, str],
) -> None:
    html = failover_run[2]
    table = html.split('id="provider-table"', 1)[1].split("</table>", 1)[0]
    assert '<tr class="failover"><td>backup</td><td>fault</td><td class="num">300</td>' in table
    assert (
        '<td>primary</td><td>fault</td><td class="num">300</td><td class="num">300 (100.0%)'
        in table
    )
    assert "Failover happened: in the fault phase 300 user requests failed over" in html
    assert "backup took 300" in html
    endpoints = html.split('id="endpoint-table"', 1)[1].split("</table>", 1)[0]
    assert "backup /v1/chat/completions" in endpoints and "800 ms" in endpoints
    impact = html.split('id="fault-impact-table"', 1)[1].split("</table>", 1)[0]
    assert "goodput during it" in impact
    assert '<td class="num">15.00</td><td class="num">900 ms</td>' in impact


def _chart_svgs(html: str) -> list[str]:
    uris = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    return [base64.b64decode(u).decode("utf-8") for u in uris]


def test_load_stages_are_marked_on_every_chart(
    failover_run: tuple[Path, Summary, str], tmp_path: Path
) -> None:
    _, _, html = failover_run
    assert "Teal dash-dot lines mark where a load stage began" in html
    charts = _chart_svgs(html)
    assert len(charts) >= 3
    assert all("#00707a" in svg for svg in charts[:3])
    # Without load_stage events nothing is drawn (and no note says otherwise).
    plain = _write_run(tmp_path / "plain", stages=False)
    plain_html = render_report(plain, analyze_run(plain))[0].read_text(encoding="utf-8")
    assert "load stage began" not in plain_html
    assert not any("#00707a" in svg for svg in _chart_svgs(plain_html))
