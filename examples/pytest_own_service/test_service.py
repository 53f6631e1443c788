"""Resilience tests of service.py with the brownout pytest plugin (``pip install brownout``
registers it; nothing to import for the fixtures).

Run: ``python -m pytest examples/pytest_own_service``. Each test starts the service with its
SDK pointed at a brownout component, switches a fault on for a ``with`` block and checks what
the service did about it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness.testing import MockProvider, assert_metric, assert_slos

HERE = Path(__file__).resolve().parent


@contextmanager
def running_service(openai_base_url: str, **env: str) -> Iterator[str]:
    """Start service.py on a free port with the SDK's base URL set; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, str(HERE / "service.py"), "--port", "0"],
        env={**os.environ, "OPENAI_BASE_URL": openai_base_url, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()  # "BROWNOUT_READY http://127.0.0.1:PORT"
        assert ready.startswith("BROWNOUT_READY "), ready
        yield ready.split()[1]
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reaps it and closes its stdout


def ask(url: str) -> httpx.Response:
    return httpx.post(f"{url}/ask", json={"question": "Is it up?"}, timeout=30)


@pytest.mark.brownout
def test_provider_500s_are_retried_twice_then_reported_as_502(brownout_mock: MockProvider) -> None:
    with running_service(brownout_mock.base_url) as url:
        with brownout_mock.fault("error", status=500):
            failed = ask(url)
        assert failed.status_code == 502
        # The first try and the SDK's two retries reached the provider, no more:
        assert [call["status"] for call in brownout_mock.calls()] == [500, 500, 500]
        assert ask(url).status_code == 200  # healthy again as soon as the fault is gone


@pytest.mark.brownout
def test_two_failures_in_a_row_are_absorbed_by_the_retries(brownout_mock: MockProvider) -> None:
    with running_service(brownout_mock.base_url) as url:
        with brownout_mock.fault("error", status=500, first=2):  # the next 2 calls fail
            answer = ask(url)
        assert answer.status_code == 200
        assert [call["status"] for call in brownout_mock.calls()] == [500, 500, 200]


@pytest.mark.brownout
def test_a_slow_network_becomes_a_504_not_a_hang(brownout_mock, brownout_proxy) -> None:  # type: ignore[no-untyped-def]
    proxy = brownout_proxy.create("llm", upstream=brownout_mock.address)
    with running_service(f"{proxy.url}/v1", ASK_TIMEOUT_S="0.5", ASK_MAX_RETRIES="0") as url:
        with proxy.toxic("latency", latency=3000):
            slow = ask(url)
        assert slow.status_code == 504
        assert slow.json() == {"error": "provider_timeout"}
        assert ask(url).status_code == 200


@pytest.mark.brownout
def test_the_service_under_load_keeps_its_slos(brownout_run) -> None:  # type: ignore[no-untyped-def]
    outcome = brownout_run(HERE / "scenario.yaml")
    assert_slos(outcome)  # on failure: which SLO, its figures and the report path
    assert_metric(outcome, "requests", phase="fault", min=1)
