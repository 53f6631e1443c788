"""The fault proxy as the orchestrator starts it: a subprocess, one ready line, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faultproxy_helpers import connect, echo_rtt, read_until_closed

from harness.faultproxy import main


class Child:
    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness.faultproxy", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: list[str] = []

    def ready_url(self, timeout: float = 20.0) -> str:
        """Wait for the ready line (reading in a thread so a dead child cannot hang us)."""
        assert self.process.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()))
        reader.start()
        reader.join(timeout)
        line = result[0] if result else ""
        if not line.startswith("BROWNOUT_READY "):
            self.process.kill()
            _out, err = self.process.communicate(timeout=10)
            pytest.fail(f"no ready line within {timeout}s; got {line!r}; stderr: {err}")
        return line.split()[1]

    def stop(self) -> tuple[int, str, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


@pytest.fixture
def child_factory() -> Iterator[type[Child]]:
    children: list[Child] = []

    class Tracked(Child):
        def __init__(self, args: list[str]) -> None:
            super().__init__(args)
            children.append(self)

    yield Tracked
    for child in children:
        if child.process.poll() is None:
            child.process.kill()
        child.process.communicate(timeout=10)


def test_ready_line_api_and_graceful_stop(child_factory: type[Child], echo_upstream: str) -> None:
    child = child_factory(["-host", "127.0.0.1", "-port", "0"])
    url = child.ready_url()
    assert url.startswith("http://127.0.0.1:")
    response = httpx.get(url + "/version", timeout=10)
    assert response.status_code == 200
    created = httpx.post(
        url + "/proxies",
        timeout=10,
        json={"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream},
    )
    assert created.status_code == 201
    listen = created.json()["listen"]
    with connect(listen) as sock:
        assert echo_rtt(sock) < 2.0
        code, out, _err = child.stop()
        assert read_until_closed(sock)[1] in ("eof", "reset")  # live connections are closed
    assert code == 0
    assert out == ""  # exactly one stdout line, already consumed


def test_double_dash_flags_and_config(
    child_factory: type[Child], echo_upstream: str, tmp_path: Path
) -> None:
    config = tmp_path / "populate.json"
    config.write_text(
        json.dumps([{"name": "from-config", "listen": "127.0.0.1:0", "upstream": echo_upstream}])
    )
    child = child_factory(["--host", "127.0.0.1", "--port=0", "-config", str(config)])
    url = child.ready_url()
    proxies = httpx.get(url + "/proxies", timeout=10).json()
    assert list(proxies) == ["from-config"]
    child.process.send_signal(signal.SIGINT)
    child.process.send_signal(signal.SIGTERM)  # a second signal during shutdown is harmless
    assert child.stop()[0] == 0


def test_bad_config_is_logged_and_server_starts(child_factory: type[Child], tmp_path: Path) -> None:
    config = tmp_path / "broken.json"
    config.write_text("{nope")
    child = child_factory(["-port", "0", "-config", str(config)])
    url = child.ready_url()
    assert httpx.get(url + "/proxies", timeout=10).json() == {}
    code, _out, err = child.stop()
    assert code == 0
    assert "could not load config" in err


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-port", "not-a-number"]) == 2
    assert main(["-bogus"]) == 2
    assert main(["-version"]) == 0
    assert "toxiproxy-server version" in capsys.readouterr().out
