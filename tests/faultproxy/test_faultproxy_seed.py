"""``-seed`` makes every random decision repeat: two servers with one seed affect the same
connections, a different seed affects others (the decisions are drawn, not fixed)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
from faultproxy_helpers import connect

from harness.faultproxy import FaultProxyServer

CONNECTIONS = 24


def _pattern(server_url: str, echo_upstream: str) -> str:
    """Which of 24 connections, opened one after another, a toxicity-0.5 toxic hit.

    ``limit_data`` of 1 byte makes the decision visible at once: a hit connection returns one
    byte and closes, a spared one echoes all four.
    """
    with httpx.Client(base_url=server_url, timeout=10) as api:
        body = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_upstream}
        listen = api.post("/proxies", json=body).json()["listen"]
        toxic = {"type": "limit_data", "toxicity": 0.5, "attributes": {"bytes": 1}}
        assert api.post("/proxies/p/toxics", json=toxic).status_code == 200
        marks = []
        for _ in range(CONNECTIONS):
            with connect(listen) as sock:
                sock.sendall(b"ping")
                data = b""
                while len(data) < 4:
                    chunk = sock.recv(4 - len(data))
                    if not chunk:
                        break
                    data += chunk
                marks.append("x" if data == b"p" else "." if data == b"ping" else "?")
        assert api.delete("/proxies/p").status_code == 204
    return "".join(marks)


def _embedded_pattern(loop_thread: Any, echo_upstream: str, seed: int) -> str:
    server = FaultProxyServer("127.0.0.1", 0, seed=seed)
    loop_thread.run(server.start())
    try:
        return _pattern(server.url, echo_upstream)
    finally:
        loop_thread.run(server.stop())


def test_one_seed_makes_the_same_decisions(loop_thread: Any, echo_upstream: str) -> None:
    first, again, other = (_embedded_pattern(loop_thread, echo_upstream, s) for s in (42, 42, 43))
    assert "?" not in first + other
    assert first == again
    assert first != other  # fixed by the seeds: 42 and 43 happen to differ here
    assert 0 < first.count("x") < CONNECTIONS  # toxicity 0.5 draws, it is not all-or-nothing


def test_the_seed_flag_reaches_the_server(loop_thread: Any, echo_upstream: str) -> None:
    """``-seed`` on the command line (as the orchestrator passes the scenario's seed) gives
    the decisions of that seed."""
    argv = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
    with subprocess.Popen(
        [*argv, "-seed", "42"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.startswith("BROWNOUT_READY "), line
            from_cli = _pattern(line.split()[1], echo_upstream)
        finally:
            child.terminate()
            child.wait(10)
    assert from_cli == _embedded_pattern(loop_thread, echo_upstream, 42)
