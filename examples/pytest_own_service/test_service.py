"""Resilience tests of service.py with the brownout pytest plugin (``pip install brownout``
registers it; nothing to import for the fixtures).

Run: ``python -m pytest examples/pytest_own_service``. Each test starts the service with its
SDK pointed at a brownout component (``brownout_service``), switches a fault on for a ``with``
block and checks what the service did about it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.testing import (
    FaultProxy,
    MockProvider,
    RunOutcome,
    ServiceProcess,
    assert_metric,
    assert_slos,
)

HERE = Path(__file__).resolve().parent
StartService = Callable[..., ServiceProcess]


def start(brownout_service: StartService, openai_base_url: str, **env: str) -> str:
    """service.py on a free port with the SDK's base URL set (the ``brownout_service`` fixture
    waits for its /healthz and stops it when the test ends); returns its URL."""
    argv = [sys.executable, str(HERE / "service.py"), "--port", "{port}"]
    return brownout_service(argv, env={"OPENAI_BASE_URL": openai_base_url, **env}).url


def ask(url: str) -> httpx.Response:
    return httpx.post(f"{url}/ask", json={"question": "Is it up?"}, timeout=30)


@pytest.mark.brownout
def test_provider_500s_are_retried_twice_then_reported_as_502(
    brownout_mock: MockProvider, brownout_service: StartService
) -> None:
    url = start(brownout_service, brownout_mock.base_url)
    with brownout_mock.fault("error", status=500):
        failed = ask(url)
    assert failed.status_code == 502
    # The first try and the SDK's two retries reached the provider, no more:
    assert [call["status"] for call in brownout_mock.calls()] == [500, 500, 500]
    assert ask(url).status_code == 200  # healthy again as soon as the fault is gone


@pytest.mark.brownout
def test_two_failures_in_a_row_are_absorbed_by_the_retries(
    brownout_mock: MockProvider, brownout_service: StartService
) -> None:
    url = start(brownout_service, brownout_mock.base_url)
    with brownout_mock.fault("error", status=500, first=2):  # the next 2 calls fail
        answer = ask(url)
    assert answer.status_code == 200
    assert [call["status"] for call in brownout_mock.calls()] == [500, 500, 200]


@pytest.mark.brownout
def test_a_slow_network_becomes_a_504_not_a_hang(
    brownout_mock: MockProvider, brownout_proxy: FaultProxy, brownout_service: StartService
) -> None:
    proxy = brownout_proxy.create("llm", upstream=brownout_mock.address)
    url = start(brownout_service, f"{proxy.url}/v1", ASK_TIMEOUT_S="0.5", ASK_MAX_RETRIES="0")
    with proxy.toxic("latency", latency=3000):
        slow = ask(url)
    assert slow.status_code == 504
    assert slow.json() == {"error": "provider_timeout"}
    assert ask(url).status_code == 200


@pytest.mark.brownout
def test_the_service_under_load_keeps_its_slos(brownout_run: Callable[..., RunOutcome]) -> None:
    outcome = brownout_run(HERE / "scenario.yaml")
    assert_slos(outcome)  # on failure: which SLO, its figures and the report path
    assert_metric(outcome, "requests", phase="fault", min=1)
