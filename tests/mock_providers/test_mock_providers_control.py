"""Control API, seeded fault decisions, in-flight accounting, and the CLI process contract."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from mockprov_support import REPO, Mock, read_journal, wait_until

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def test_health(openai_mock: Mock, anthropic_mock: Mock) -> None:
    assert openai_mock.http.get("/_brownout/health").json() == {
        "status": "ok",
        "provider": "openai",
        "name": "openai",
    }
    assert anthropic_mock.http.get("/_brownout/health").json()["provider"] == "anthropic"


def test_fault_crud(openai_mock: Mock) -> None:
    http = openai_mock.http
    assert http.get("/_brownout/faults").json() == {"faults": []}
    created = openai_mock.add_fault("a", "error", 0.25, status=503)
    assert created == {
        "name": "a",
        "type": "error",
        "probability": 0.25,
        "params": {
            "status": 503,
            "should_retry": "",
            "retry_after_s": None,
            "html": "auto",
            "message": "",
            "endpoints": [],
            "models": [],
        },
    }
    openai_mock.add_fault("b", "rate_limit")
    openai_mock.add_fault("a", "error", 1.0, status=500)  # same name replaces
    faults = http.get("/_brownout/faults").json()["faults"]
    assert [(f["name"], f["probability"]) for f in faults] == [("b", 1.0), ("a", 1.0)]
    assert http.delete("/_brownout/faults/a").status_code == 204
    assert http.delete("/_brownout/faults/a").status_code == 404
    assert [f["name"] for f in http.get("/_brownout/faults").json()["faults"]] == ["b"]
    assert http.delete("/_brownout/faults").status_code == 204
    assert http.get("/_brownout/faults").json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"name": "x", "type": "meteor"}', "unknown fault type 'meteor'"),
        (b'{"type": "error"}', "`name`"),
        (b'{"name": "x", "type": "error", "probability": 2}', "between 0 and 1"),
        (b'{"name": "x", "type": "error", "params": {"status": 200}}', "params.status"),
        (b'{"name": "x", "type": "error", "params": {"colour": 1}}', "unknown params"),
        (b'{"name": "x", "type": "rate_limit", "params": {"rpm": 0}}', "params.rpm"),
        (b'{"name": "x", "type": "drift", "params": {"profile": "nope"}}', "drift profile"),
        (b'{"name": "x", "type": "error", "extra": 1}', "unknown fault keys"),
    ],
)
def test_bad_faults_are_400(openai_mock: Mock, body: bytes, message: str) -> None:
    r = openai_mock.http.post("/_brownout/faults", content=body)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert openai_mock.http.get("/_brownout/faults").json() == {"faults": []}


def test_validate_checks_without_adding(openai_mock: Mock) -> None:
    ok = openai_mock.http.post(
        "/_brownout/faults/validate", json={"name": "x", "type": "error", "params": {"status": 503}}
    )
    assert ok.status_code == 200 and ok.json()["params"]["status"] == 503
    bad = openai_mock.http.post(
        "/_brownout/faults/validate", json={"name": "x", "type": "error", "params": {"status": 7}}
    )
    assert bad.status_code == 400 and "params.status" in bad.json()["error"]
    assert openai_mock.http.get("/_brownout/faults").json() == {"faults": []}


def test_unknown_control_path(openai_mock: Mock) -> None:
    assert openai_mock.http.get("/_brownout/nothing").status_code == 404
    assert openai_mock.http.post("/_brownout/health").status_code == 405


def _decisions(mock: Mock, n: int) -> list[int]:
    return [mock.http.post("/v1/chat/completions", json=CHAT).status_code for _ in range(n)]


def test_seeded_decisions_are_reproducible(make_mock: Callable[..., Mock]) -> None:
    runs = []
    for seed in (7, 7, 8):
        mock = make_mock("openai", seed=seed)
        mock.add_fault("flaky", "error", 0.5, status=503)
        mock.add_fault("limited", "rate_limit", 0.3)
        runs.append(_decisions(mock, 40))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert {200, 503, 429} <= set(runs[0])
    # Replayed calls (identical bodies) draw exactly as fully served ones (distinct bodies).
    mock = make_mock("openai", seed=7)
    mock.add_fault("flaky", "error", 0.5, status=503)
    mock.add_fault("limited", "rate_limit", 0.3)
    distinct = [
        mock.http.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"hello {i}"}]},
        ).status_code
        for i in range(40)
    ]
    assert distinct == runs[0]
    # Re-adding a fault restarts its decision stream.
    mock = make_mock("openai", seed=7)
    mock.add_fault("flaky", "error", 0.5, status=503)
    mock.add_fault("limited", "rate_limit", 0.3)
    first = _decisions(mock, 10)
    mock.add_fault("flaky", "error", 0.5, status=503)
    mock.add_fault("limited", "rate_limit", 0.3)
    assert _decisions(mock, 10) == first


def test_probability_zero_and_filters(openai_mock: Mock) -> None:
    openai_mock.add_fault("never", "error", 0.0)
    openai_mock.add_fault("other-model", "error", 1.0, models=["gpt-4o"])
    openai_mock.add_fault("other-endpoint", "error", 1.0, endpoints=["/v1/embeddings"])
    assert _decisions(openai_mock, 5) == [200] * 5
    gpt4o = dict(CHAT, model="gpt-4o")
    assert openai_mock.http.post("/v1/chat/completions", json=gpt4o).status_code == 500


def test_in_flight_counts_concurrent_calls(openai_mock: Mock) -> None:
    openai_mock.add_fault("slow", "latency", ms=1200)  # room for 4 to overlap on a busy box
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(openai_mock.http.post, "/v1/chat/completions", json=CHAT) for _ in range(4)
        ]
        stats = wait_until(
            lambda: (s := openai_mock.http.get("/_brownout/stats").json())["in_flight"] == 4 and s,
            what="4 calls in flight",
        )
        assert stats["in_flight"] == 4
        assert [f.result().status_code for f in futures] == [200] * 4
    rows = openai_mock.calls(4)
    assert max(r["in_flight"] for r in rows) == 4
    assert all(r["latency_ms"] >= 1150 for r in rows)
    assert {r["fault"] for r in rows} == {"slow"}


def _start_cli(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_providers", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the ready line (or EOF on failure)
    if not line.startswith("BROWNOUT_READY "):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"no ready line; got {line!r}; stderr: {err}")
    return proc, line.split(" ", 1)[1].strip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_ready_line_and_graceful_stop(tmp_path: Path, sig: signal.Signals) -> None:
    journal = tmp_path / "provider_calls.jsonl"
    proc, url = _start_cli(
        tmp_path,
        "anthropic",
        "--port",
        "0",
        "--journal",
        str(journal),
        "--seed",
        "3",
        "--name",
        "claude-main",
    )
    try:
        assert url.startswith("http://127.0.0.1:")
        health = httpx.get(url + "/_brownout/health").json()
        assert health == {"status": "ok", "provider": "anthropic", "name": "claude-main"}
        r = httpx.post(
            url + "/v1/messages",
            json={
                "model": "claude-mock-haiku",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out == ""  # the ready line was the only stdout line
    (row,) = read_journal(journal)
    assert row["name"] == "claude-main" and row["provider"] == "anthropic"


def test_cli_usage_errors(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for args, code in (
        (["cohere"], 2),
        (["openai", "--port", "99999"], 2),
        (["openai", "--host", "256.1.1.1"], 3),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "mock_providers", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == code, (args, proc.stderr)
        assert proc.stdout == ""
        assert "error" in proc.stderr


def test_cli_latency_profile_and_knowledge(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge.json"
    knowledge.write_text('{"What is the capital of France?": "Paris."}')
    proc, url = _start_cli(
        tmp_path,
        "openai",
        "--ttft-ms",
        "200",
        "--tokens-per-s",
        "100",
        "--knowledge",
        str(knowledge),
    )
    try:
        question = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
        }
        t0 = time.monotonic()
        r = httpx.post(url + "/v1/chat/completions", json=question, timeout=30)
        elapsed = time.monotonic() - t0
        assert r.json()["choices"][0]["message"]["content"] == "Paris."
        tokens = r.json()["usage"]["completion_tokens"]
        assert elapsed >= 0.19 + tokens / 100  # TTFT plus output at 100 tokens/s (1 ms timers)
        with httpx.stream(
            "POST", url + "/v1/chat/completions", timeout=30, json=dict(question, stream=True)
        ) as s:
            t0 = time.monotonic()
            lines = s.iter_lines()
            first = next(lines)
            assert first.startswith("data: ") and time.monotonic() - t0 >= 0.15
            assert sum(1 for line in lines if line) > 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "mock_providers",
            "openai",
            "--knowledge",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "--knowledge" in bad.stderr
