"""The load's shape over time: stages of users (closed) or of arrival rate (open).

Pure arithmetic, no Locust: the locustfile asks it how many users to run now (closed) or when
the next request is due (open), and the orchestrator asks it when each stage begins so the
change lands in ``events.jsonl``. Both sides computing the same plan from the same numbers is
what keeps the report's stage markers true to the traffic that was sent.

An open-model schedule is the seeded arrival process of the whole run, the same on every
Locust worker; worker ``i`` of ``n`` sends arrivals ``i, i+n, i+2n, ...``. So splitting the load
across workers changes neither the count nor the times of the requests, only who sends them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Arrivals", "Profile", "Step", "arrival_offsets", "share"]

Arrivals = Literal["poisson", "constant"]


@dataclass(frozen=True, slots=True)
class Step:
    """Hold ``value`` (users or requests/s) for ``duration_s``; with ``ramp``, move linearly
    to it from the previous step's value (0 before the first step) over the step."""

    duration_s: float
    value: float
    ramp: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    """A sequence of steps; after the last one its value holds until the load stops."""

    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a load profile needs at least one step")

    @classmethod
    def constant(cls, value: float) -> Profile:
        return cls((Step(math.inf, value),))

    def segments(self) -> Iterator[tuple[float, float, float, float]]:
        """(start_s, duration_s, value at start, value at end) of every step, then the hold."""
        start, previous = 0.0, 0.0
        for step in self.steps:
            begin = previous if step.ramp else step.value
            yield start, step.duration_s, begin, step.value
            start += step.duration_s
            previous = step.value
        if math.isfinite(start):
            yield start, math.inf, previous, previous

    def starts(self) -> list[float]:
        """When each step begins, seconds from the start of the load."""
        out, start = [], 0.0
        for step in self.steps:
            out.append(start)
            start += step.duration_s
        return out

    def value_at(self, t: float) -> float:
        for start, duration, begin, end in self.segments():
            if t < start + duration:
                if begin == end or not math.isfinite(duration):
                    return end
                return begin + (end - begin) * max(0.0, t - start) / duration
        return self.steps[-1].value


def _solve(begin: float, end: float, duration: float, area: float) -> float:
    """The time into a segment at which the integral of its rate reaches ``area``."""
    if begin == end or not math.isfinite(duration):
        return area / end
    slope = (end - begin) / duration
    # begin*τ + slope*τ²/2 = area; the root that is positive (a rate is never negative).
    return (-begin + math.sqrt(begin * begin + 2.0 * slope * area)) / slope


def arrival_offsets(
    rate: Profile,
    arrivals: Arrivals,
    *,
    seed: int | str | None,
    worker_index: int = 0,
    workers: int = 1,
) -> Iterator[tuple[int, float]]:
    """(arrival number, seconds from the start) of this worker's share of the arrivals.

    The process is the run's: arrival 0 at time 0, then either one arrival per unit of
    cumulative rate (``constant``) or exponential gaps in that unit (``poisson``, the
    time-rescaled inhomogeneous Poisson process), so a ramp of rate is a ramp of arrivals.
    """
    rng = random.Random(None if seed is None else f"arrivals/{seed}")
    segments = rate.segments()
    seg_start, seg_duration, seg_begin, seg_end = next(segments)
    seg_area = _area(seg_begin, seg_end, seg_duration)
    passed = 0.0  # cumulative rate (expected arrivals) before the current segment
    target = 0.0
    number = 0
    while True:
        while target - passed > seg_area:
            passed += seg_area
            seg_start, seg_duration, seg_begin, seg_end = next(segments)
            seg_area = _area(seg_begin, seg_end, seg_duration)
        if number % workers == worker_index:
            into = target - passed
            offset = seg_start + (_solve(seg_begin, seg_end, seg_duration, into) if into else 0.0)
            yield number, offset
        number += 1
        target += rng.expovariate(1.0) if arrivals == "poisson" else 1.0


def _area(begin: float, end: float, duration: float) -> float:
    if not math.isfinite(duration):
        return math.inf if end > 0 else 0.0
    return (begin + end) / 2.0 * duration


def share(total: int, worker_index: int, workers: int) -> int:
    """Worker ``worker_index``'s part of ``total`` split as evenly as whole numbers allow."""
    return total // workers + (1 if worker_index < total % workers else 0)


def total_duration(steps: Sequence[Step]) -> float:
    return sum(step.duration_s for step in steps)
