"""Failover: a primary and a fallback provider, each behind its own resilient policy.

Each provider has its own circuit breaker (one provider's outage must not stop calls to the
other), and they share one retry budget (failover must not become a way around it). A request
goes to the first provider whose policy did not give up with a retryable failure: a breaker
that refuses (``circuit_open`` with no call made) or retries exhausted on the primary both move
on to the fallback at once, without a backoff wait, since the fallback is not the provider that
is struggling. When the outage is *correlated* (both providers share the cause), both breakers
open and the pipeline fails fast instead of doubling the load on two sick providers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rag_policies import (
    Call,
    CircuitBreaker,
    NaivePolicy,
    Policy,
    PolicyOutcome,
    ResilientPolicy,
    RetryBudget,
    is_retryable,
)

# Reasons after which the next provider may succeed where this one did not.
_FAIL_OVER_ON = frozenset({"circuit_open", "max_attempts", "retry_budget", "retry_after_too_long"})


class FailoverPolicy:
    """Resilient policies tried in order, one per provider."""

    name = "resilient"

    def __init__(self, policies: Sequence[ResilientPolicy], names: Sequence[str]) -> None:
        assert policies and len(policies) == len(names)
        self.policies = list(policies)
        self.names = list(names)
        self.failovers = 0

    async def run_over(self, calls: Sequence[Call], deadline: float | None) -> PolicyOutcome:
        """``calls[i]`` makes one attempt on provider ``i``."""
        attempts = 0
        outcome = PolicyOutcome(None, 0, "circuit_open")
        for index, (policy, call) in enumerate(zip(self.policies, calls, strict=True)):
            if index:
                self.failovers += 1
            outcome = await policy.run(call, deadline, earn=index == 0)
            attempts += outcome.attempts
            if outcome.gave_up is None or outcome.gave_up not in _FAIL_OVER_ON:
                break
            if outcome.result is not None and not is_retryable(outcome.result):
                break
        return PolicyOutcome(outcome.result, attempts, outcome.gave_up)

    async def run(self, call: Call, deadline: float | None) -> PolicyOutcome:
        """One provider only (no fallback configured): the primary's policy alone."""
        return await self.policies[0].run(call, deadline)

    def gauges(self) -> dict[str, float]:
        gauges = dict(self.policies[0].gauges())
        for name, policy in zip(self.names, self.policies, strict=True):
            is_open = policy.breaker.state != CircuitBreaker.CLOSED
            gauges[f"sut_provider_circuit_open{{provider={name}}}"] = 1.0 if is_open else 0.0
        return gauges


def make_policy(
    name: str,
    timeout_s: float,
    seed: int | None = None,
    providers: int = 1,
    breaker_open_s: float = 5.0,
) -> Policy:
    """The named policy; ``resilient`` over several providers fails over between them (one
    breaker each, one shared retry budget). ``naive`` only ever calls the first provider."""
    if name == "naive":
        return NaivePolicy(timeout_s)
    if name == "resilient":
        rng = random.Random(seed)
        budget = RetryBudget()
        policies = [
            ResilientPolicy(
                timeout_s, rng=rng, budget=budget, breaker=CircuitBreaker(open_s=breaker_open_s)
            )
            for _ in range(providers)
        ]
        if providers == 1:
            return policies[0]
        return FailoverPolicy(policies, ["primary", "fallback"][:providers])
    raise ValueError(f"unknown policy {name!r}: expected 'naive' or 'resilient'")
