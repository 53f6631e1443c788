"""``sleep_until``, the latency toxic's clock: never early, in deadline order, one timerfd per loop.

Checked on both loops the proxy can run on (uvloop, as in production, and asyncio's own), and
against the loop-timer fallback on the same awkward deadlines (past, equal, out of order,
cancelled). Only lower bounds on time are asserted: waking early is the bug; how late a
wake-up is depends on the machine.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Awaitable, Callable
from time import monotonic

import pytest

from harness.faultproxy import deadlines
from harness.faultproxy.deadlines import sleep_until

Sleep = Callable[[float], Awaitable[None]]


def _loops() -> list[Callable[[], asyncio.AbstractEventLoop]]:
    factories: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
    try:
        import uvloop

        factories.append(uvloop.new_event_loop)
    except ImportError:
        pass
    return factories


LOOPS = pytest.mark.parametrize("new_loop", _loops(), ids=lambda f: f.__module__.split(".")[0])
SLEEPS = pytest.mark.parametrize(
    "sleep",
    [sleep_until, deadlines._sleep_with_loop_timers],
    ids=["sleep_until", "loop-timers"],
)


def _run(new_loop: Callable[[], asyncio.AbstractEventLoop], coro: Awaitable[object]) -> object:
    loop = new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def _wake_order(sleep: Sleep, offsets: list[float]) -> list[tuple[int, float, float]]:
    """Sleep concurrently until ``start + offset`` each; (index, deadline, woken at) by wake."""
    start = monotonic()
    woken: list[tuple[int, float, float]] = []

    async def one(index: int, deadline: float) -> None:
        await sleep(deadline)
        woken.append((index, deadline, monotonic()))

    await asyncio.gather(*(one(i, start + offset) for i, offset in enumerate(offsets)))
    return woken


@LOOPS
@SLEEPS
def test_never_early_and_in_deadline_order(
    new_loop: Callable[[], asyncio.AbstractEventLoop], sleep: Sleep
) -> None:
    rng = random.Random(13)
    # Out of order, duplicates, a deadline in the past, and some microseconds apart.
    offsets = [rng.uniform(0.01, 0.06) for _ in range(200)]
    offsets += [0.02] * 5 + [-1.0, 0.0] + [0.03 + i * 1e-6 for i in range(20)]
    woken = _run(new_loop, _wake_order(sleep, offsets))
    assert isinstance(woken, list)
    assert len(woken) == len(offsets)
    for _index, deadline, at in woken:
        assert at >= deadline
    if sleep is not sleep_until or deadlines._libc is None:
        return  # the loop's timers wake what is due in one iteration, in any order
    # The timerfd wakes in deadline order (equal deadlines: in the order they were asked
    # for); those already due when asked (offset <= 0) return at once, whenever their task ran.
    deadlines_seen = [deadline for index, deadline, _at in woken if offsets[index] > 0]
    assert deadlines_seen == sorted(deadlines_seen)
    twenties = [index for index, _d, _at in woken if offsets[index] == 0.02]
    assert twenties == sorted(twenties)


@LOOPS
def test_cancelled_sleeps_wake_nobody_and_block_nothing(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def scenario() -> list[str]:
        start = monotonic()
        events: list[str] = []

        async def sleeper(name: str, offset: float) -> None:
            await sleep_until(start + offset)
            events.append(name)

        # The earliest deadline (the one the timer is armed for) is cancelled, and so is one
        # behind the survivors: the others still wake, none early.
        early = asyncio.ensure_future(sleeper("early", 0.01))
        late = asyncio.ensure_future(sleeper("late", 0.08))
        kept = [asyncio.ensure_future(sleeper(f"kept{i}", 0.02 + i * 0.01)) for i in range(3)]
        await asyncio.sleep(0)
        early.cancel()
        late.cancel()
        await asyncio.gather(*kept)
        assert monotonic() >= start + 0.04
        with pytest.raises(asyncio.CancelledError):
            await early
        # A new sleep after everything pending was cancelled or done re-arms the timer.
        await sleep_until(monotonic() + 0.01)
        events.append("again")
        return events

    assert _run(new_loop, scenario()) == ["kept0", "kept1", "kept2", "again"]


@pytest.mark.skipif(
    deadlines._libc is None or not os.path.isdir("/proc/self/fd"),
    reason="timerfd is Linux-only; elsewhere the loop-timer fallback is used",
)
def test_one_timerfd_per_loop_not_per_sleep() -> None:
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def scenario() -> tuple[int, int]:
        await sleep_until(monotonic() + 0.001)
        after_first = open_fds()
        for _ in range(50):
            await asyncio.gather(*(sleep_until(monotonic() + 0.001) for _ in range(10)))
        return after_first, open_fds()

    before = open_fds()
    loop = asyncio.new_event_loop()
    try:
        after_first, after_many = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert after_first == after_many  # no descriptor per sleep
    assert after_first <= before + 4  # the loop's own (selector, self-pipe) and one timerfd
    del loop
    if sys.implementation.name == "cpython":
        assert open_fds() <= before  # the timerfd closes with its loop
