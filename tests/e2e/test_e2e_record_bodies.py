"""``record_bodies: true`` in a real run: bodies at both ends, capped, and no secret anywhere.

The whole stack runs (mock provider, example RAG SUT, Locust) for a few seconds. A secret is
planted twice: as the load's ``Authorization`` header (``${VAR}``) and as the SUT's provider API
key (a secret-named ``sut.env`` value, which the SUT sends as its own ``Authorization``). The
question is longer than the cap, so both the user request and the provider call it causes are
cut with a marker. Then the secret must be absent from every file of the run directory, and
``brownout trace`` must print the bodies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.bodies import BODY_CAP_BYTES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-planted-4f1c9e2d7a5b"
QUESTION = "Which faults matter most? " * 150  # 3,900 characters: the SUT takes up to 4,000
PADDING = "x" * 9000  # a field the SUT ignores, so the user request is over the 8 KiB cap

pytestmark = pytest.mark.slow

SCENARIO = f"""\
name: bodies
seed: 7
duration: 6s
record_bodies: true
load:
  model: open
  rate: 4
  timeout: 10s
  request:
    method: POST
    path: /ask
    headers:
      Authorization: "Bearer ${{PLANTED_SECRET}}"
    json:
      question: "{QUESTION}"
      padding: "{PADDING}"
providers:
  openai: {{flavour: openai}}
sut:
  command: >-
    {{python}} {ROOT}/examples/rag_sut/app.py --port 0
    --provider-url {{provider.openai.url}}/v1 --policy naive
  env:
    OPENAI_API_KEY: "${{PLANTED_SECRET}}"
  health: /healthz
"""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_bodies_recorded_capped_and_secret_free(tmp_path: Path) -> None:
    scenario = tmp_path / "bodies.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    reports = tmp_path / "reports"
    env = {**os.environ, "PLANTED_SECRET": SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--reports-dir", str(reports)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir()]

    requests = {r["request_id"] for r in read_jsonl(run_dir / "requests.jsonl")}
    bodies = read_jsonl(run_dir / "bodies.jsonl")
    assert {b["request_id"] for b in bodies} == requests
    first = bodies[0]
    assert first["request"]["truncated"] is True
    assert first["request"]["bytes"] > BODY_CAP_BYTES
    assert first["request"]["body"].startswith('{"question":"Which faults matter most?')
    assert first["request"]["body"].endswith("bytes in all]")
    assert first["response"]["status"] == 200 and '"answer"' in first["response"]["body"]
    assert "request_body" not in read_jsonl(run_dir / "requests.jsonl")[0]  # requests stay lean

    provider = read_jsonl(run_dir / "provider_bodies.jsonl")
    journal = read_jsonl(run_dir / "provider_calls.jsonl")
    # One body line per journalled call (a request still in flight at the stop has calls but
    # no record at the load generator, so compare with the journal).
    assert sorted(p["request_id"] for p in provider) == sorted(c["request_id"] for c in journal)
    assert {p["request_id"] for p in provider} & requests
    call = provider[0]
    assert call["endpoint"] == "/v1/chat/completions"
    assert "Which faults matter most?" in call["request"]["body"]
    for side in (call["request"], call["response"]):
        assert side["truncated"] is (side["bytes"] > BODY_CAP_BYTES)
        assert len(side["body"].encode()) <= BODY_CAP_BYTES + 40  # the cap and its marker
    assert call["response"]["status"] == 200 and "choices" in call["response"]["body"]

    # The planted secret is nowhere: not in bodies, journals, logs, configs or reports.
    leaked = [
        str(path.relative_to(run_dir))
        for path in run_dir.rglob("*")
        if path.is_file() and SECRET.encode() in path.read_bytes()
    ]
    assert leaked == []

    trace = subprocess.run(
        [sys.executable, "-m", "harness", "trace", str(run_dir), first["request_id"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert trace.returncode == 0, trace.stderr
    assert "request body:" in trace.stdout and "call 1 response body:" in trace.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any(t["request_body"] for t in summary["worst_requests"])
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<details class="bodies">' in html
