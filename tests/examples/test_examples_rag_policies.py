"""The retry policies in isolation: budget arithmetic, breaker states, backoff, deadlines.

The SUT modules are loaded from examples/rag_sut (they are an example, not a package), with a
fake clock and sleep so no test waits for real time.
"""

from __future__ import annotations

import asyncio
import random
import sys
from typing import Any

import pytest
from ragsut_support import SUT_APP

sys.path.append(str(SUT_APP.parent))

from rag_policies import (
    Call,
    CircuitBreaker,
    NaivePolicy,
    PolicyOutcome,
    ResilientPolicy,
    RetryBudget,
)
from rag_provider import AttemptResult

OK = AttemptResult(200, answer="yes")
E500 = AttemptResult(500, error_kind="http_500")
E400 = AttemptResult(400, error_kind="http_400")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(*results: AttemptResult) -> tuple[list[int], Call]:
    made: list[int] = []

    async def call(attempt: int, timeout_s: float) -> AttemptResult:
        made.append(attempt)
        return results[min(len(made) - 1, len(results) - 1)]

    return made, call


def run(
    policy: NaivePolicy | ResilientPolicy, *results: AttemptResult, deadline: float | None = None
) -> tuple[PolicyOutcome, list[int]]:
    made, call = scripted(*results)
    outcome = asyncio.run(policy.run(call, deadline))
    return outcome, made


def resilient(fake: FakeTime, **kwargs: Any) -> ResilientPolicy:
    return ResilientPolicy(
        10.0,
        rng=random.Random(1),
        clock=fake.clock,
        sleep=fake.sleep,
        **kwargs,
    )


def test_naive_retries_everything_immediately() -> None:
    outcome, made = run(NaivePolicy(10.0), E400)
    assert made == [0, 1, 2, 3]
    assert outcome.gave_up == "max_attempts" and outcome.attempts == 4
    outcome, made = run(NaivePolicy(10.0), E500, OK)
    assert made == [0, 1] and outcome.result == OK


def test_retry_budget_allows_one_retry_per_ten_requests() -> None:
    budget = RetryBudget(ratio=0.1, capacity=10.0)
    granted = 0
    for _ in range(100):
        budget.deposit()
        granted += budget.try_spend()
    assert granted == 10


def test_resilient_retries_only_within_budget() -> None:
    fake = FakeTime()
    budget = RetryBudget()
    budget.tokens = 2.0
    policy = resilient(fake, budget=budget)
    outcome, made = run(policy, E500)
    assert made == [0, 1, 2] and outcome.gave_up == "max_attempts"
    outcome, made = run(policy, E500)
    assert made == [0] and outcome.gave_up == "retry_budget"


def test_resilient_does_not_retry_client_errors() -> None:
    fake = FakeTime()
    budget = RetryBudget()
    budget.tokens = 5.0
    outcome, made = run(resilient(fake, budget=budget), E400)
    assert made == [0] and outcome.gave_up == "not_retryable"


def test_backoff_is_full_jitter_within_the_capped_exponential() -> None:
    policy = resilient(FakeTime(), base_delay_s=0.2, max_delay_s=1.0)
    for retry, cap in [(0, 0.2), (1, 0.4), (2, 0.8), (3, 1.0), (8, 1.0)]:
        delays = [policy.backoff_s(retry) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # spread over the whole range, not clustered at 0


def test_retry_after_is_honoured_and_too_long_gives_up() -> None:
    fake = FakeTime()
    budget = RetryBudget()
    budget.tokens = 5.0
    policy = resilient(fake, budget=budget, max_retry_after_s=10.0)
    limited = AttemptResult(429, error_kind="http_429", retry_after_s=3.0)
    outcome, made = run(policy, limited, OK)
    assert made == [0, 1] and outcome.result == OK
    assert fake.sleeps == [3.0]
    too_long = AttemptResult(429, error_kind="http_429", retry_after_s=60.0)
    outcome, made = run(policy, too_long, OK)
    assert made == [0] and outcome.gave_up == "retry_after_too_long"


def test_deadline_stops_retries_that_cannot_finish_in_time() -> None:
    fake = FakeTime()
    budget = RetryBudget()
    budget.tokens = 5.0
    policy = resilient(fake, budget=budget)
    limited = AttemptResult(429, error_kind="http_429", retry_after_s=3.0)
    outcome, made = run(policy, limited, OK, deadline=2.0)
    assert made == [0] and outcome.gave_up == "deadline"
    outcome, made = run(policy, OK, deadline=fake.now)
    assert made == [] and outcome.gave_up == "deadline"
    outcome, made = run(policy, OK, deadline=fake.now + 0.3)  # less than a call needs
    assert made == [] and outcome.gave_up == "deadline"
    outcome, made = run(policy, OK, deadline=fake.now + 0.6)
    assert made == [0] and outcome.result == OK


def test_breaker_opens_fails_fast_and_recovers_through_one_probe() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(failure_threshold=3, open_s=5.0, clock=fake.clock)
    for _ in range(3):
        permit = breaker.allow()
        assert permit == "call"
        breaker.record(permit, healthy=False)
    assert breaker.state == "open"
    assert breaker.allow() is None
    fake.now += 5.0
    assert breaker.allow() == "probe"
    assert breaker.allow() is None  # only one probe at a time
    breaker.record("probe", healthy=False)
    assert breaker.state == "open"
    fake.now += 5.0
    assert breaker.allow() == "probe"
    breaker.record("probe", healthy=True)
    assert breaker.state == "closed"
    assert breaker.allow() == "call"


def test_a_failure_that_trips_the_breaker_is_not_retried() -> None:
    fake = FakeTime()
    budget = RetryBudget()
    budget.tokens = 5.0
    breaker = CircuitBreaker(failure_threshold=1, clock=fake.clock)
    outcome, made = run(resilient(fake, budget=budget, breaker=breaker), E500)
    assert made == [0] and outcome.gave_up == "circuit_open"
    assert budget.tokens == pytest.approx(5.1) and fake.sleeps == []  # only the deposit


def test_stale_results_do_not_close_an_open_breaker() -> None:
    fake = FakeTime()
    breaker = CircuitBreaker(failure_threshold=1, open_s=5.0, clock=fake.clock)
    breaker.record(breaker.allow() or "call", healthy=False)
    assert breaker.state == "open"
    breaker.record("call", healthy=True)  # a call that started before the breaker opened
    assert breaker.state == "open"
