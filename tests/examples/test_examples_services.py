"""The agent workflow, stale-snapshot and job pipeline examples, and the RAG service's fallback,
as real processes against the real mock provider (in-process server, journal on disk).

Each test makes the behaviour that separates the two modes happen once, and checks it from the
outside: the answers, the provider journal (request ids, traceparent, call counts) and the
service's Prometheus metrics.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ragsut_support import REPO, ReadyProcess, parse_prometheus, start_ready_process, wait_until

from mock_providers.app import MockConfig
from mock_providers.server import MockServer

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
KNOWLEDGE = {"What is the refund window?": "Refunds are accepted within 30 days."}


class Mock:
    def __init__(self, server: MockServer, journal: Path) -> None:
        self.server = server
        self.url = server.url
        self.journal = journal

    def fault(self, name: str, kind: str, **params: Any) -> None:
        body = {"name": name, "type": kind, "params": params}
        response = httpx.post(f"{self.url}/_brownout/faults", json=body, trust_env=False)
        assert response.status_code == 201, response.text

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_brownout/faults", trust_env=False)

    def calls(self, request_id: str | None = None) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        rows = [json.loads(line) for line in self.journal.read_text().splitlines() if line]
        return [r for r in rows if request_id is None or r["request_id"] == request_id]


@pytest.fixture
def mock(tmp_path: Path) -> Iterator[Callable[..., Mock]]:
    servers: list[MockServer] = []

    def start(name: str = "openai", knowledge: dict[str, str] | None = None) -> Mock:
        journal = tmp_path / f"{name}.jsonl"
        server = MockServer(
            MockConfig("openai", name=name, journal=journal, knowledge=knowledge or {})
        )
        server.start()
        servers.append(server)
        return Mock(server, journal)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[..., ReadyProcess]]:
    started: list[ReadyProcess] = []

    def start(example: str, *args: str) -> ReadyProcess:
        cmd = [sys.executable, str(REPO / "examples" / example / "app.py"), "--port", "0", *args]
        process = start_ready_process(cmd, tmp_path / f"{example}-{len(started)}.stderr")
        started.append(process)
        return process

    yield start
    for process in started:
        assert process.stop() == 0


def post(url: str, body: dict[str, Any], request_id: str, timeout: float = 30) -> httpx.Response:
    headers = {"X-Request-Id": request_id, "traceparent": TRACEPARENT}
    return httpx.post(url, json=body, headers=headers, timeout=timeout, trust_env=False)


def metrics(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return parse_prometheus(httpx.get(f"{url}/metrics", trust_env=False).text)


# ---- agent workflow ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["naive", "resilient"])
def test_agent_steps_tool_drift_and_resume(
    mode: str, mock: Callable[..., Mock], service: Callable[..., ReadyProcess]
) -> None:
    provider = mock()
    agent = service("agent_workflow", "--provider-url", f"{provider.url}/v1", "--mode", mode)
    response = post(f"{agent.url}/run", {"task": "How do I retry?"}, f"agent-{mode}")
    assert response.status_code == 200, response.text
    assert response.json()["answer"]
    calls = provider.calls(f"agent-{mode}")
    assert [c["stream"] for c in calls] == [False, False, True]  # research, analyse, draft
    assert {c["traceparent"] for c in calls} == {TRACEPARENT}

    # Tool-call drift: naive json.loads fails and restarts; resilient reads the object.
    provider.fault("drift", "drift", profile="tool_args_object")
    response = post(f"{agent.url}/run", {"task": "How do I retry?"}, f"drift-{mode}")
    calls = provider.calls(f"drift-{mode}")
    assert len(calls) == 3  # naive: research three times; resilient: one call per step
    assert response.status_code == (502 if mode == "naive" else 200), response.text
    provider.clear()

    # A failed draft, then the same workflow again: only resilient keeps research and analyse.
    provider.fault("cut", "stream_truncate", after_chunks=1)  # only the streamed draft step
    body = {"task": "Summarise the runbook.", "workflow_id": "wf-1"}
    assert post(f"{agent.url}/run", body, "first").status_code == 502
    provider.clear()
    again = post(f"{agent.url}/run", body, "second")
    assert again.status_code == 200, again.text
    second = provider.calls("second")
    if mode == "resilient":
        assert [c["stream"] for c in second] == [True]
        assert metrics(agent.url)[("sut_workflows_resumed_total", frozenset())] == 1
    else:
        assert [c["stream"] for c in second] == [False, False, True]
        assert metrics(agent.url)[("sut_steps_redone_total", frozenset())] >= 2


# ---- stale snapshot ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["naive", "resilient"])
def test_two_workers_disagree_only_with_private_snapshots(
    mode: str, mock: Callable[..., Mock], service: Callable[..., ReadyProcess]
) -> None:
    llm, docstore = mock("llm"), mock("docstore", KNOWLEDGE)
    app = service(
        "stale_snapshot",
        *("--llm-url", f"{llm.url}/v1", "--docstore-url", f"{docstore.url}/v1"),
        *("--mode", mode, "--snapshot-ttl-s", "0.5" if mode == "resilient" else "60"),
    )
    ask = {"conversation": "c1", "question": "What is the refund window?"}
    right = KNOWLEDGE["What is the refund window?"]
    docstore.fault("outdated", "wrong_answer")
    first = post(f"{app.url}/ask", ask, "r1").json()  # worker a, outdated index
    assert first["worker"] == "a" and first["context"] != right
    docstore.clear()
    if mode == "resilient":
        wait_until(
            lambda: post(f"{app.url}/ask", ask, "poll").json()["context"] == right,
            10,
            what="the shared snapshot to expire",
        )
        answers = [post(f"{app.url}/ask", ask, f"r{i}").json() for i in range(4)]
        assert {a["context"] for a in answers} == {right}
        assert {a["worker"] for a in answers} == {"a", "b"}
    else:
        answers = [post(f"{app.url}/ask", ask, f"r{i}").json() for i in range(2, 6)]
        by_worker = {a["worker"]: a["context"] for a in answers}
        assert by_worker == {"a": first["context"], "b": right}  # one conversation, two answers
    # Both providers saw the caller's request id and traceparent.
    assert docstore.calls("r1") and llm.calls("r1")
    assert {c["traceparent"] for c in docstore.calls("r1") + llm.calls("r1")} == {TRACEPARENT}


# ---- job pipeline -----------------------------------------------------------------------------


def test_naive_jobs_run_twice_when_the_provider_outlasts_the_lease(
    mock: Callable[..., Mock], service: Callable[..., ReadyProcess]
) -> None:
    provider = mock()
    provider.fault("slow", "latency", ms=1500)
    jobs = service(
        "job_pipeline",
        "--provider-url",
        f"{provider.url}/v1",
        "--mode",
        "naive",
        "--lease-s",
        "0.5",
        "--workers",
        "4",
    )
    done = post(f"{jobs.url}/jobs", {"text": "report"}, "job-naive")
    assert done.status_code == 200, done.text
    assert done.json()["deliveries"] >= 2
    # The duplicate run is still at the provider when the first answers: wait for its entry.
    wait_until(lambda: len(provider.calls("job-naive")) >= 2, 10, what="the duplicate run")
    calls = provider.calls("job-naive")
    assert len({c["fingerprint"] for c in calls}) == 1  # the same job, sent again
    wait_until(
        lambda: metrics(jobs.url).get(("sut_duplicate_executions_total", frozenset()), 0) >= 1,
        10,
        what="the duplicate run to finish",
    )


def test_resilient_jobs_hold_their_lease_and_honour_idempotency_keys(
    mock: Callable[..., Mock], service: Callable[..., ReadyProcess]
) -> None:
    provider = mock()
    provider.fault("slow", "latency", ms=1500)
    jobs = service(
        "job_pipeline",
        "--provider-url",
        f"{provider.url}/v1",
        "--mode",
        "resilient",
        "--lease-s",
        "0.5",
        "--workers",
        "4",
    )
    body = {"text": "report", "idempotency_key": "k-1", "wait": False}
    first = post(f"{jobs.url}/jobs", body, "job-1")
    second = post(f"{jobs.url}/jobs", body, "job-2")
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    job_id = first.json()["job_id"]

    def finished() -> dict[str, Any] | None:
        view: dict[str, Any] = httpx.get(f"{jobs.url}/jobs/{job_id}", trust_env=False).json()
        return view if view["status"] == "done" else None

    view = wait_until(finished, 20, what="the job to finish")
    assert view["ok"] is True and view["deliveries"] == 1
    assert len(provider.calls("job-1")) == 1 and provider.calls("job-2") == []
    assert metrics(jobs.url)[("sut_jobs_deduplicated_total", frozenset())] == 1
    assert {c["traceparent"] for c in provider.calls("job-1")} == {TRACEPARENT}


# ---- RAG fallback -----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["naive", "resilient"])
def test_rag_fails_over_to_the_fallback_only_when_resilient(
    policy: str, mock: Callable[..., Mock], service: Callable[..., ReadyProcess]
) -> None:
    primary, backup = mock("primary"), mock("backup")
    primary.fault("down", "error", status=503)
    rag = service(
        "rag_sut",
        "--provider-url",
        f"{primary.url}/v1",
        "--fallback-url",
        f"{backup.url}/v1",
        "--policy",
        policy,
        "--seed",
        "1",
    )
    statuses = [
        post(f"{rag.url}/ask", {"question": "Why fail over?"}, f"q{i}").status_code
        for i in range(12)
    ]
    backup_calls = backup.calls()
    if policy == "naive":
        assert set(statuses) == {502} and backup_calls == []
    else:
        assert set(statuses) == {200}
        assert {c["request_id"] for c in backup_calls} == {f"q{i}" for i in range(12)}
        assert {c["traceparent"] for c in backup_calls} == {TRACEPARENT}
        samples = metrics(rag.url)
        # The primary's breaker opened after 10 failures: the last requests skipped it.
        assert samples[("sut_provider_circuit_open", frozenset({("provider", "primary")}))] == 1
        assert len(primary.calls()) < 12 + 12
