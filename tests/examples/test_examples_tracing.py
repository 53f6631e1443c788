"""OpenTelemetry spans from the example services, received by brownout's own OTLP/HTTP receiver.

The services export with the standard SDK when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (brownout
sets it for the SUTs it starts) and export nothing without it. Checked from the outside: the
spans that arrive, their parents, the ``traceparent`` the provider saw, and ``brownout trace``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from ragsut_support import REPO, start_ready_process

from harness.run.otlp import SPANS_FILE, OTLPReceiver
from mock_providers.app import MockConfig
from mock_providers.server import MockServer

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.mark.parametrize("exporting", [True, False], ids=["endpoint-set", "no-endpoint"])
def test_agent_workflow_spans_hang_off_the_incoming_traceparent(
    exporting: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "calls.jsonl"
    mock = MockServer(MockConfig("openai", name="openai", journal=journal))
    mock.start()
    try:
        with OTLPReceiver(tmp_path) as receiver:
            if exporting:
                monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
            else:
                monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
            app = REPO / "examples" / "agent_workflow" / "app.py"
            cmd = [sys.executable, str(app), "--port", "0", "--provider-url", f"{mock.url}/v1"]
            sut = start_ready_process(cmd, tmp_path / "agent.stderr")
            try:
                headers = {"X-Request-Id": "agent-1", "traceparent": TRACEPARENT}
                reply = httpx.post(
                    f"{sut.url}/run",
                    json={"task": "Why retry with jitter?"},
                    headers=headers,
                    timeout=30,
                    trust_env=False,
                )
                assert reply.status_code == 200, reply.text
            finally:
                assert sut.stop() == 0  # lifespan shutdown flushes the batched spans
    finally:
        mock.stop()

    spans = read_rows(tmp_path / SPANS_FILE)
    calls = read_rows(journal)
    assert len(calls) == 3  # research (tool call), analyse, draft (streamed)
    if not exporting:
        assert spans == []
        assert {c["traceparent"] for c in calls} == {TRACEPARENT}  # passed on unchanged
        return
    assert {s["trace_id"] for s in spans} == {TRACE_ID}
    by_id = {s["span_id"]: s for s in spans}
    names = sorted(s["name"] for s in spans)
    assert names == sorted(
        ["POST /run", "queue wait", "step research", "step analyse", "step draft"]
        + ["execute_tool search_docs"]
        + ["chat gpt-4o-mini"] * 3
    )
    (server,) = [s for s in spans if s["name"] == "POST /run"]
    assert server["parent_span_id"] == PARENT_ID
    assert server["attributes"]["request_id"] == "agent-1"
    assert server["service"] == "agent_workflow"
    for span in spans:
        if span["name"].startswith(("step ", "queue")):
            assert span["parent_span_id"] == server["span_id"], span
        if span["name"].startswith(("chat ", "execute_tool")):
            assert by_id[span["parent_span_id"]]["name"].startswith("step "), span
    chats = {s["span_id"] for s in spans if s["name"].startswith("chat ")}
    assert chats == {c["traceparent"].split("-")[2] for c in calls}  # each call names its span
    for call in calls:
        assert call["traceparent"].split("-")[1] == TRACE_ID


SCENARIO = """\
name: traced
duration: 4s
load:
  users: 2
  wait: 200ms
  request:
    method: POST
    path: /ask
    json: {question: "What does a brownout look like?"}
providers:
  openai: {flavour: openai}
sut:
  command: "{python} APP --port 0 --provider-url {provider.openai.url}/v1 --policy naive"
"""


@pytest.mark.slow
def test_rag_sut_spans_join_their_request_in_brownout_trace(tmp_path: Path) -> None:
    app = REPO / "examples" / "rag_sut" / "app.py"
    scenario = tmp_path / "traced.yaml"
    scenario.write_text(SCENARIO.replace("APP", str(app)), encoding="utf-8")
    brownout = [sys.executable, "-m", "harness"]
    run = subprocess.run(
        [*brownout, "run", str(scenario), "--quiet", "--reports-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (run_dir,) = (tmp_path / "r").iterdir()
    requests = read_rows(run_dir / "requests.jsonl")
    spans = read_rows(run_dir / SPANS_FILE)
    request_id = requests[len(requests) // 2]["request_id"]
    mine = [s for s in spans if s["attributes"].get("request_id") == request_id]
    assert len(mine) == 1, mine
    trace = [s for s in spans if s["trace_id"] == mine[0]["trace_id"]]
    assert sorted(s["name"] for s in trace) == [
        "POST /ask",
        "chat gpt-4o-mini",
        "queue wait",
        "retrieval",
    ]
    shown = subprocess.run(
        [*brownout, "trace", str(run_dir), request_id],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    for name in ("POST /ask", "retrieval", "queue wait", "chat gpt-4o-mini"):
        assert name in shown.stdout, shown.stdout
