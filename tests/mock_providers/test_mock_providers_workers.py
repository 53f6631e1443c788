"""``--workers 2``: two real processes on one port (SO_REUSEPORT) behave as one provider.

Real mock subprocesses, real concurrent clients (the official openai SDK and httpx), each on
its own connections so the kernel spreads them over both workers (asserted from the stats).
What must hold across processes: one journal of whole lines, `first`/`every` counted over all
calls, an `rpm` limit of K admitting exactly K, and `max_concurrency` with one queue.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from mockprov_support import read_journal, wait_until

from mock_providers.core.shared import SharedState, counter_draw


class WorkerMock:
    def __init__(self, tmp_path: Path, *extra: str, config: dict[str, Any] | None = None):
        self.journal = tmp_path / "calls.jsonl"
        argv = [sys.executable, "-m", "mock_providers", "openai", "--workers", "2"]
        argv += ["--journal", str(self.journal), "--seed", "5", *extra]
        if config is not None:
            path = tmp_path / "provider.json"
            path.write_text(json.dumps(config), encoding="utf-8")
            argv += ["--config", str(path)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        assert line and line[0] == "BROWNOUT_READY", line
        self.url = line[1]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_brownout{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.close()

    def close(self) -> int:
        code = self.process.wait(30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    mocks: list[WorkerMock] = []

    def make(*extra: str, config: dict[str, Any] | None = None) -> WorkerMock:
        mocks.append(WorkerMock(tmp_path, *extra, config=config))
        return mocks[-1]

    yield make
    for mock in mocks:
        if mock.process.poll() is None:
            mock.process.kill()
        mock.close()


def chat(i: int) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": f"question {i}"}]}


async def post_all(
    url: str, n: int, *, key: str = "sk-test", ids: list[str] | None = None
) -> list[int]:
    """n calls at once, each on a fresh connection (so both workers get some); the ids of the
    replies that succeeded go to ``ids``."""

    async def one(i: int) -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {"authorization": f"Bearer {key}"}
            response = await client.post(
                f"{url}/v1/chat/completions", json=chat(i), headers=headers
            )
            if ids is not None and response.status_code == 200:
                ids.extend((response.json()["id"], response.headers["x-request-id"]))
            return response.status_code

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def both_workers_served(mock: WorkerMock, calls: int) -> None:
    """Both workers answered some of the ``calls``. The worker that answers /stats counts its own
    calls fresh and the other's as last published (every 0.1 s, later on a busy machine), so
    this waits until the published counts add up to every call made."""

    def settled() -> list[dict[str, int]] | None:
        workers: list[dict[str, int]] = mock.control("GET", "/stats")["workers"]
        return workers if sum(w["calls"] for w in workers) == calls else None

    workers = wait_until(settled, 10, f"the workers' published counts to add up to {calls}")
    assert len(workers) == 2 and all(w["calls"] > 0 for w in workers), workers


def test_first_and_every_count_calls_across_workers_and_one_journal(start: Any) -> None:
    mock = start()
    mock.control("POST", "/faults", {"name": "first3", "type": "error", "first": 3})
    mock.control(
        "POST", "/faults", {"name": "every5", "type": "latency", "every": 5, "params": {"ms": 1}}
    )
    codes = asyncio.run(post_all(mock.url, 30))
    assert codes.count(500) == 3 and codes.count(200) == 27
    both_workers_served(mock, 30)
    assert mock.control("GET", "/stats")["by_status"] == {"500": 3, "200": 27}
    lines = mock.journal.read_bytes().splitlines()
    assert len(lines) == 30  # every line whole: O_APPEND writes of whole lines, two writers
    calls = [json.loads(line) for line in lines]
    assert sorted(c["fault"] or "" for c in calls).count("first3") == 3
    # `every: 5` of the 30 calls the latency fault matched (each fault counts all its calls).
    assert sum(1 for c in calls if c["fault"] and "every5" in c["fault"]) == 6
    assert mock.stop() == 0


def test_in_flight_counts_the_calls_of_every_worker(start: Any) -> None:
    """The journal's `in_flight` is the provider's: 16 slow calls at once, spread over both
    workers, and the last to arrive sees all 16 (each worker alone holds fewer)."""
    mock = start()
    mock.control("POST", "/faults", {"name": "slow", "type": "latency", "params": {"ms": 2000}})
    codes = asyncio.run(post_all(mock.url, 16))
    assert codes == [200] * 16
    both_workers_served(mock, 16)
    calls = [json.loads(line) for line in mock.journal.read_bytes().splitlines()]
    assert len(calls) == 16
    assert max(c["in_flight"] for c in calls) == 16
    assert sorted(c["in_flight"] for c in calls)[0] >= 1
    assert mock.control("GET", "/stats")["in_flight"] == 0
    assert mock.stop() == 0


def test_the_official_sdk_sees_one_rpm_bucket(start: Any) -> None:
    mock = start(config={"capacity": {"rpm": 5}})

    async def run() -> list[int]:
        async def one(i: int) -> int:
            async with openai.AsyncOpenAI(
                base_url=f"{mock.url}/v1", api_key="sk-one-key", max_retries=0
            ) as client:
                try:
                    await client.chat.completions.create(**chat(i))
                except openai.RateLimitError as exc:
                    return exc.status_code
                return 200

        return list(await asyncio.gather(*(one(i) for i in range(16))))

    codes = asyncio.run(run())
    # 5 a minute, refilled at one per 12 s: within this test, exactly 5 are admitted.
    assert codes.count(200) == 5 and codes.count(429) == 11
    both_workers_served(mock, 16)


def test_max_concurrency_and_one_queue_hold_across_workers(start: Any) -> None:
    mock = start("--ttft-ms", "1500", config={"capacity": {"max_concurrency": 2}})

    async def run() -> list[int]:
        task = asyncio.ensure_future(post_all(mock.url, 8, ids=ids))

        def queued() -> dict[str, Any] | None:
            capacity = mock.control("GET", "/capacity")
            return capacity if capacity["queue_depth"] == 6 else None

        capacity = await asyncio.to_thread(wait_until, queued, 30, "six calls queued")
        assert capacity["in_flight"] == 2  # two slots in all, not two per worker
        return await task

    ids: list[str] = []
    assert asyncio.run(run()) == [200] * 8
    both_workers_served(mock, 8)
    # Same calls in both workers, no fault: forked id counters would repeat each other's ids.
    assert len(set(ids)) == len(ids) == 16, ids
    calls = read_journal(mock.journal)
    waited = sorted(c["queue_ms"] for c in calls)
    # Served in waves of two: the last pair waited at least three service times.
    assert waited[-1] >= 3 * 1500 * 0.9, waited


def test_the_worker_draws_are_seeded_and_shared_counters_are_exact() -> None:
    assert counter_draw(5, "f", 1) == counter_draw(5, "f", 1)
    assert counter_draw(5, "f", 1) != counter_draw(5, "f", 2)
    assert 0.0 <= counter_draw(1, "x", 3) < 1.0
    state = SharedState(2)
    state.put_fault({"name": "f"}, [], [])
    _, (entry,) = state.faults()
    assert [state.next_seen(entry["slot"]) for _ in range(3)] == [1, 2, 3]


@pytest.mark.parametrize("workers", ["0", "two"])
def test_bad_worker_counts_are_usage_errors(workers: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_providers", "openai", "--workers", workers],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--workers" in result.stderr
    assert "Traceback" not in result.stderr
