"""Benchmark: how exactly, and at what CPU cost, the latency toxic's sleep meets its deadline.

Compares :func:`harness.faultproxy.deadlines.sleep_until` (a timerfd per loop on Linux) with
the loop-timer fallback it replaced (uvloop's millisecond timers, re-checked after each
wake-up and the sub-millisecond remainder yielded away), in one process, on uvloop as the
fault proxy runs, interleaved sleep by sleep so both see the same machine:

* ``one at a time`` — a single sleeper, as one keep-alive connection behind a latency toxic;
* ``64 concurrent`` — 64 sleepers with deadlines spread over the delay, as many connections.

"late" is ``time.monotonic()`` when the sleeper resumed minus its deadline (never negative:
waking early would be a bug); "CPU per sleep" is the process's CPU time over the run divided
by the sleeps, which is where spinning shows.

    python benchmarks/bench_deadlines.py [--sleeps 400] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.faultproxy import deadlines

Sleep = Callable[[float], Awaitable[None]]
IMPLEMENTATIONS: dict[str, Sleep] = {
    "timerfd (sleep_until)": deadlines.sleep_until,
    "loop timers + yield (before)": deadlines._sleep_with_loop_timers,
}


async def _one(sleep: Sleep, delay: float) -> tuple[float, float]:
    """One sleep: (lateness s, CPU s)."""
    cpu = time.process_time()
    deadline = time.monotonic() + delay
    await sleep(deadline)
    late = time.monotonic() - deadline
    return late, time.process_time() - cpu


async def _concurrent(
    sleep: Sleep, delay: float, count: int, rng: random.Random
) -> tuple[list[float], float]:
    """``count`` sleepers, deadlines spread over ``delay``: (latenesses, CPU s per sleep)."""
    cpu = time.process_time()
    start = time.monotonic()
    late: list[float] = []

    async def sleeper(deadline: float) -> None:
        await sleep(deadline)
        late.append(time.monotonic() - deadline)

    await asyncio.gather(*(sleeper(start + delay * rng.random()) for _ in range(count)))
    return late, (time.process_time() - cpu) / count


def _pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def measure(sleeps: int, delay: float) -> list[str]:
    rng = random.Random(13)
    single: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in IMPLEMENTATIONS}
    for index in range(sleeps):
        names = list(IMPLEMENTATIONS)
        for name in names if index % 2 == 0 else names[::-1]:
            late, cpu = await _one(IMPLEMENTATIONS[name], delay)
            single[name][0].append(late)
            single[name][1].append(cpu)
    many: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in IMPLEMENTATIONS}
    for index in range(max(1, sleeps // 64)):
        names = list(IMPLEMENTATIONS)
        for name in names if index % 2 == 0 else names[::-1]:
            lates, cpu_each = await _concurrent(IMPLEMENTATIONS[name], delay, 64, rng)
            many[name][0].extend(lates)
            many[name][1].append(cpu_each)
    lines = [
        "| case | implementation | sleeps | late p50 µs | late p99 µs | late max µs "
        "| CPU per sleep µs |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case, table in (("one at a time", single), ("64 concurrent", many)):
        for name, (lates, cpus) in table.items():
            assert min(lates) >= 0, f"{name} woke {-min(lates) * 1e6:.0f} µs early"
            cpu_per = sum(cpus) / len(cpus)
            lines.append(
                f"| {case} | {name} | {len(lates)} | {_pct(lates, 0.5) * 1e6:.0f} | "
                f"{_pct(lates, 0.99) * 1e6:.0f} | {max(lates) * 1e6:.0f} | {cpu_per * 1e6:.0f} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sleeps", type=int, default=400, help="sleeps per implementation")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="each sleep's delay")
    args = parser.parse_args()
    if deadlines._libc is None:
        print("no timerfd on this platform: sleep_until is the loop-timer fallback itself")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.Runner()
        loop_name = "asyncio"
    before = os.getloadavg()
    with runner:
        lines = runner.run(measure(args.sleeps, args.delay_ms / 1000))
    after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in before)} at start, "
        f"{' '.join(f'{x:.2f}' for x in after)} at end; {loop_name}, "
        f"delay {args.delay_ms:g} ms"
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
