"""A tiny, fast scenario and the checks that a run left nothing behind.

The scenario has every kind of thing a run creates (a mock provider with a fault, an embedded or
external fault proxy with a proxy and a toxic, an SUT, Locust) and an SUT that starts in
milliseconds (``python -m http.server``), so interrupting it at many moments stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.run.supervisor import group_alive
from harness.toxiproxy import ToxiproxyClient
from tests.conftest import wait_until

SCENARIO = """\
name: signals
duration: {duration}
warmup: 1s
providers:
  llm: {{flavour: openai}}
proxies:
  llm: {{upstream: llm}}
sut:
  command: ["{{python}}", "-m", "http.server", "{{port}}", "--bind", "127.0.0.1"]
  health: /
  metrics: null
  env: {{OPENAI_API_KEY: "${{BROWNOUT_TEST_SECRET}}"}}
load:
  users: 1
  wait: 50ms
  request:
    method: GET
    path: /
    headers:
      Authorization: "Bearer ${{BROWNOUT_TEST_SECRET}}"
      X-Api-Key: "${{BROWNOUT_TEST_SECRET}}"
faults:
  - {{name: p500, target: provider/llm, type: error, at: 2s, for: {window}}}
  - name: slow
    target: proxy/llm
    type: latency
    at: 2s
    for: {window}
    attributes: {{latency: 5}}
"""

SECRET = "brownout-marker-d41d8cd98f00b204"


def write_scenario(directory: Path, *, duration: str = "5s", window: str = "2s") -> Path:
    path = directory / "signals.yaml"
    path.write_text(SCENARIO.format(duration=duration, window=window), encoding="utf-8")
    return path


def start_run(
    scenario: Path,
    reports: Path,
    *,
    extra: tuple[str, ...] = (),
    ignore_sigint: bool = False,
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "harness", "run", str(scenario), "--reports-dir", str(reports)]
    if ignore_sigint:  # what `cmd &` in a non-interactive shell does
        argv = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *argv]
    env = {**os.environ, "BROWNOUT_TEST_SECRET": SECRET}
    return subprocess.Popen(
        [*argv, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=scenario.parent,
    )


def run_dir_of(reports: Path) -> Path | None:
    runs = sorted(p for p in reports.glob("*") if (p / "ledger.jsonl").exists())
    return runs[-1] if runs else None


def ledger_entries(run_dir: Path) -> list[dict[str, Any]]:
    entries = []
    for line in (run_dir / "ledger.jsonl").read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    return entries


def event_types(run_dir: Path) -> list[str]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    types = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError, KeyError):
            types.append(json.loads(line)["type"])
    return types


def wait_for_moment(reports: Path, moment: Callable[[Path], bool], what: str) -> Path:
    def reached() -> Path | None:
        run_dir = run_dir_of(reports)
        return run_dir if run_dir is not None and moment(run_dir) else None

    return wait_until(reached, 120, what=what, interval_s=0.02)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def leftovers(run_dir: Path, external: ToxiproxyClient | None = None) -> list[str]:
    """Everything the run's ledger says it created that still exists."""
    left: list[str] = []
    entries = ledger_entries(run_dir)
    for entry in entries:
        if entry["op"] == "process" and group_alive(int(entry["pid"])):
            left.append(f"process group {entry['pid']} ({entry['name']})")
        if entry["op"] == "port" and not port_free(int(entry["port"])):
            left.append(f"port {entry['port']} ({entry['name']})")
    if external is not None:
        for name, proxy in external.list_proxies().items():
            left.append(f"proxy {name} on the external Toxiproxy")
            left += [f"toxic {t.name} on {name}" for t in external.list_toxics(proxy.name)]
    # A provider fault lives in its mock: gone with the process (checked above).
    return left


def assert_nothing_left(run_dir: Path, external: ToxiproxyClient | None = None) -> None:
    wait_until(lambda: not leftovers(run_dir, external), 30, what=f"nothing left by {run_dir}")


def send(process: subprocess.Popen[str], *signals: signal.Signals, gap_s: float = 0.3) -> None:
    for index, sig in enumerate(signals):
        if index:
            time.sleep(gap_s)
        if process.poll() is None:
            process.send_signal(sig)
