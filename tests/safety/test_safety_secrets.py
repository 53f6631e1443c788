"""A secret given as ``${VAR}`` (or under a secret-looking name) reaches the SUT and the load, and
appears in no file of the run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.redact import REDACTED
from harness.scenario import parse_scenario
from tests.safety.safety_support import SECRET

pytestmark = pytest.mark.slow

#: An SUT that answers 200 only when the load sends the real key, and checks its own env.
SUT = """\
import http.server, os, sys
EXPECTED = "Bearer " + os.environ["OPENAI_API_KEY"]
print("SUT sees key", os.environ["OPENAI_API_KEY"], flush=True)  # a careless SUT logs it
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == EXPECTED
        self.send_response(200 if ok or self.path == "/" else 401)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("BROWNOUT_READY http://127.0.0.1:%d" % server.server_port, flush=True)
server.serve_forever()
"""

SCENARIO = """\
name: secrets
duration: 3s
sut:
  command: ["{python}", "sut.py", "{port}"]
  health: /
  metrics: null
  env: {OPENAI_API_KEY: "${BROWNOUT_TEST_SECRET}"}
load:
  users: 1
  wait: 50ms
  request:
    method: GET
    path: /ask
    headers: {Authorization: "Bearer ${BROWNOUT_TEST_SECRET}"}
"""


def test_secret_marker_never_reaches_the_run_directory(tmp_path: Path) -> None:
    (tmp_path / "sut.py").write_text(SUT, encoding="utf-8")
    scenario = tmp_path / "secrets.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(scenario), "--reports-dir", str(reports)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "BROWNOUT_TEST_SECRET": SECRET},
    )
    assert result.returncode in (0, 1), result.stderr
    assert SECRET not in result.stdout + result.stderr
    [run_dir] = list(reports.iterdir())
    statuses = [
        json.loads(line).get("status")
        for line in (run_dir / "requests.jsonl").read_text().splitlines()
    ]
    # The load sent the real key (the SUT answers 401 otherwise).
    assert statuses and set(statuses) == {200}, set(statuses)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert len(files) > 8
    holding = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert holding == []
    assert REDACTED in (run_dir / "scenario.yaml").read_text()
    assert REDACTED in (run_dir / "logs" / "sut.log").read_text()


def test_unset_variable_is_an_error_at_its_place() -> None:
    text = SCENARIO.replace('BROWNOUT_TEST_SECRET}"}\n', 'NOT_SET_ANYWHERE}"}\n', 1)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml", environ={"BROWNOUT_TEST_SECRET": "x" * 8})
    assert caught.value.problems == [
        "s.yaml:7:25: sut.env.OPENAI_API_KEY: environment variable NOT_SET_ANYWHERE is not set "
        "(it is referenced as ${NOT_SET_ANYWHERE})"
    ]


def test_double_dollar_is_a_literal() -> None:
    text = SCENARIO.replace('${BROWNOUT_TEST_SECRET}"}\n', '$${LITERAL}"}\n', 1)
    scenario = parse_scenario(text, environ={"BROWNOUT_TEST_SECRET": "x" * 8})
    assert scenario.sut.env["OPENAI_API_KEY"] == "${LITERAL}"
