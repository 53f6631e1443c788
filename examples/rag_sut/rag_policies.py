"""Retry policies: what the pipeline does when its provider fails.

``naive`` is the common anti-pattern brownout exists to expose: retry everything, at once, a fixed
number of times. Under provider errors it multiplies the load on the provider by up to 4x
exactly when the provider can least afford it.

``resilient`` combines the standard remedies: only retryable failures are retried, with capped
exponential backoff and full jitter (spreading retries out), the provider's ``retry-after`` is
honoured, a retry budget caps retries to a fraction of requests (so amplification stays near 1.1x
however bad things get), a circuit breaker fails fast while the provider is down, and a deadline
drops work nobody is waiting for any more.

Policies see a provider call only as ``call(attempt_number, timeout_s) -> AttemptResult``, so
they are tested without a network.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from rag_provider import AttemptResult

Call = Callable[[int, float], Awaitable[AttemptResult]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class PolicyOutcome:
    """How a logical request ended: the last attempt (None if none was made) and why."""

    result: AttemptResult | None
    attempts: int
    gave_up: str | None = None  # None on success; else the reason the policy stopped


class Policy(Protocol):
    name: str

    async def run(self, call: Call, deadline: float | None) -> PolicyOutcome: ...

    def gauges(self) -> dict[str, float]: ...


class NaivePolicy:
    """Up to ``retries`` immediate retries on any failure; no backoff, no budget, no breaker."""

    name = "naive"

    def __init__(self, timeout_s: float, retries: int = 3) -> None:
        self.timeout_s = timeout_s
        self.retries = retries

    async def run(self, call: Call, deadline: float | None) -> PolicyOutcome:
        del deadline  # the naive pipeline keeps working for callers that have given up
        result: AttemptResult | None = None
        for attempt in range(self.retries + 1):
            result = await call(attempt, self.timeout_s)
            if result.ok:
                return PolicyOutcome(result, attempt + 1)
            if result.committed:  # even naive cannot take back what the user already has
                return PolicyOutcome(result, attempt + 1, "stream_broken")
        return PolicyOutcome(result, self.retries + 1, "max_attempts")

    def gauges(self) -> dict[str, float]:
        return {}


def is_retryable(result: AttemptResult) -> bool:
    """Failures that may succeed on a second try: transport errors, broken streams, 408, 409,
    429, 5xx; never once part of a streamed answer has gone to the user."""
    if result.committed:
        return False
    if result.error_kind in ("timeout", "connection", "stream_truncated", "stream_error"):
        return True
    return result.status in (408, 409, 429) or result.status >= 500


def counts_against_provider(result: AttemptResult) -> bool:
    """Failures that say the provider is unhealthy (a 400 is our fault, not its)."""
    return is_retryable(result)


class RetryBudget:
    """A token bucket: each request earns ``ratio`` tokens, each retry spends one.

    So over any stretch of time retries <= ratio x requests (plus at most ``capacity`` saved up
    during healthy traffic); it starts empty, so a cold pipeline cannot retry-storm.
    """

    def __init__(self, ratio: float = 0.1, capacity: float = 10.0) -> None:
        self.ratio = ratio
        self.capacity = capacity
        self.tokens = 0.0

    def deposit(self) -> None:
        self.tokens = min(self.capacity, self.tokens + self.ratio)

    def try_spend(self) -> bool:
        # A small epsilon so ten deposits of 0.1 add up to one whole retry despite float error.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


class CircuitBreaker:
    """Consecutive-failure breaker: closed -> open after ``failure_threshold`` provider
    failures in a row; open rejects for ``open_s``; then half-open lets one probe through, whose
    result closes it again or re-opens it.

    Ten in a row is rare by chance (0.3^10 = 6e-6 at a 30 % error rate) but comes within a
    second when the provider is down, so random errors do not trip it and an outage does."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self, failure_threshold: int = 10, open_s: float = 5.0, clock: Clock = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._clock = clock
        self.state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def allow(self) -> str | None:
        """May a call go out now? ``"call"``, ``"probe"`` (the one half-open trial) or None."""
        if self.state == self.OPEN and self._clock() - self._opened_at >= self.open_s:
            self.state = self.HALF_OPEN
        if self.state == self.CLOSED:
            return "call"
        if self.state == self.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return "probe"
        return None

    def record(self, permit: str, healthy: bool) -> None:
        """Report the result of a call made under ``permit`` (healthy = not a provider failure)."""
        if permit == "probe":
            self._probe_in_flight = False
            if healthy:
                self._close()
            else:
                self._open()
        elif self.state == self.CLOSED:
            if healthy:
                self._failures = 0
            else:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._open()
        # Results of calls that started before the breaker opened say nothing about the
        # provider now; only the probe decides when an open breaker closes.

    def release(self, permit: str) -> None:
        """Give back a permit whose call was never completed (cancelled)."""
        if permit == "probe":
            self._probe_in_flight = False

    def _open(self) -> None:
        self.state = self.OPEN
        self._opened_at = self._clock()

    def _close(self) -> None:
        self.state = self.CLOSED
        self._failures = 0


class ResilientPolicy:
    """Backoff with full jitter, retry-after, a retry budget, a circuit breaker and a deadline."""

    name = "resilient"

    def __init__(
        self,
        timeout_s: float,
        *,
        max_attempts: int = 3,
        base_delay_s: float = 0.2,
        max_delay_s: float = 2.0,
        max_retry_after_s: float = 10.0,
        min_attempt_s: float = 0.5,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.max_retry_after_s = max_retry_after_s
        self.min_attempt_s = min_attempt_s
        self.budget = budget or RetryBudget()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._rng = rng or random.Random()
        self._clock = clock
        self._sleep = sleep

    def backoff_s(self, retry: int) -> float:
        """Full jitter: uniform in [0, min(cap, base x 2^retry)] (retry counts from 0)."""
        return self._rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2.0**retry))

    async def run(self, call: Call, deadline: float | None, *, earn: bool = True) -> PolicyOutcome:
        """``earn``: this request adds to the retry budget (false when failing over to this
        provider, so one request earns once however many providers it tries)."""
        if earn:
            self.budget.deposit()
        result: AttemptResult | None = None
        attempts = 0
        while True:
            remaining = None if deadline is None else deadline - self._clock()
            if remaining is not None and remaining < self.min_attempt_s:
                # Too little time left for a provider call to finish: do not start one.
                return PolicyOutcome(result, attempts, "deadline")
            permit = self.breaker.allow()
            if permit is None:
                return PolicyOutcome(result, attempts, "circuit_open")
            timeout_s = self.timeout_s if remaining is None else min(self.timeout_s, remaining)
            try:
                result = await call(attempts, timeout_s)
            except BaseException:
                self.breaker.release(permit)
                raise
            attempts += 1
            self.breaker.record(permit, healthy=not counts_against_provider(result))
            if result.ok:
                return PolicyOutcome(result, attempts)
            if result.committed:
                return PolicyOutcome(result, attempts, "stream_broken")
            if not is_retryable(result):
                return PolicyOutcome(result, attempts, "not_retryable")
            if attempts >= self.max_attempts:
                return PolicyOutcome(result, attempts, "max_attempts")
            if self.breaker.state != CircuitBreaker.CLOSED:
                # This failure tripped the breaker: a retry would be refused anyway, so do not
                # spend the retry budget or a backoff wait on it.
                return PolicyOutcome(result, attempts, "circuit_open")
            delay = self.backoff_s(attempts - 1)
            if result.retry_after_s is not None:
                if result.retry_after_s > self.max_retry_after_s:
                    return PolicyOutcome(result, attempts, "retry_after_too_long")
                delay = max(delay, result.retry_after_s)
            if deadline is not None and self._clock() + delay + self.min_attempt_s > deadline:
                return PolicyOutcome(result, attempts, "deadline")
            if not self.budget.try_spend():
                return PolicyOutcome(result, attempts, "retry_budget")
            await self._sleep(delay)

    def gauges(self) -> dict[str, float]:
        return {
            "sut_circuit_open": 0.0 if self.breaker.state == CircuitBreaker.CLOSED else 1.0,
            "sut_retry_budget_tokens": round(self.budget.tokens, 3),
        }
