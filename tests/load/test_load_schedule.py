"""harness.load.schedule: the arrival process and the load profile, pure arithmetic.

The open model's promises rest on it: seeded arrivals are reproducible, constant arrivals are
exact, poisson arrivals have the asked mean rate and exponential gaps, a ramp of rate is a
ramp of arrivals, and splitting the schedule across workers neither loses nor duplicates an
arrival.
"""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from harness.load.schedule import Arrivals, Profile, Step, arrival_offsets, share, total_duration


def take_until(
    profile: Profile, arrivals: Arrivals, until_s: float, seed: int | None
) -> list[float]:
    out = []
    for _number, offset in arrival_offsets(profile, arrivals, seed=seed):
        if offset >= until_s:
            break
        out.append(offset)
    return out


def test_constant_arrivals_are_evenly_spaced_at_the_rate() -> None:
    offsets = take_until(Profile.constant(20.0), "constant", 10.0, seed=1)
    assert len(offsets) == 200
    assert offsets[0] == 0.0
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert gaps == {0.05}


def test_poisson_arrivals_are_seeded_with_the_asked_mean_rate() -> None:
    first = take_until(Profile.constant(50.0), "poisson", 200.0, seed=7)
    again = take_until(Profile.constant(50.0), "poisson", 200.0, seed=7)
    other = take_until(Profile.constant(50.0), "poisson", 200.0, seed=8)
    assert first == again
    assert first != other
    # 10,000 expected arrivals: the count is within 3 standard deviations (3·√10000 = 300).
    assert abs(len(first) - 10_000) < 300
    gaps = [b - a for a, b in itertools.pairwise(first)]
    # Exponential gaps: the standard deviation equals the mean (1/rate), the median is ln 2/rate.
    assert statistics.fmean(gaps) == pytest.approx(0.02, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(0.02, rel=0.05)
    assert statistics.median(gaps) == pytest.approx(math.log(2) * 0.02, rel=0.05)


def test_stages_hold_and_ramp_the_rate() -> None:
    # 2 s at 10/s, a 4 s ramp to 30/s, then 2 s at 30/s (held after the last step too).
    profile = Profile((Step(2, 10), Step(4, 30, ramp=True), Step(2, 30)))
    assert profile.starts() == [0.0, 2.0, 6.0]
    assert total_duration(profile.steps) == 8
    assert [profile.value_at(t) for t in (0, 1.9, 2, 4, 6, 7, 100)] == [10, 10, 10, 20, 30, 30, 30]
    offsets = take_until(profile, "constant", 10.0, seed=None)
    count = lambda a, b: sum(a <= t < b for t in offsets)  # noqa: E731
    assert count(0, 2) == 20
    assert count(2, 6) == pytest.approx(80, abs=1)  # the ramp's area: (10 + 30) / 2 · 4
    assert count(2, 4) == pytest.approx(30, abs=1)  # its first half: (10 + 20) / 2 · 2
    assert count(6, 10) == pytest.approx(120, abs=1)
    # A ramp from 0 (the first step ramps up from nothing).
    ramp_up = take_until(Profile((Step(4, 20, ramp=True),)), "constant", 4.0, seed=None)
    assert len(ramp_up) == pytest.approx(40, abs=1)
    assert sum(t < 2 for t in ramp_up) == pytest.approx(10, abs=1)  # a quarter of the area


def test_a_spike_step_changes_the_rate_at_once() -> None:
    profile = Profile((Step(2, 10), Step(1, 100), Step(2, 10)))
    offsets = take_until(profile, "constant", 5.0, seed=None)
    assert sum(2 <= t < 3 for t in offsets) == pytest.approx(100, abs=1)
    assert sum(3 <= t < 5 for t in offsets) == pytest.approx(20, abs=1)


@pytest.mark.parametrize("arrivals", ["constant", "poisson"])
def test_workers_split_the_arrivals_i_i_plus_n_without_loss_or_duplication(
    arrivals: Arrivals,
) -> None:
    profile = Profile((Step(3, 40), Step(3, 80, ramp=True)))

    def first_6_s(index: int, workers: int) -> list[tuple[int, float]]:
        schedule = arrival_offsets(profile, arrivals, seed=3, worker_index=index, workers=workers)
        return list(itertools.takewhile(lambda arrival: arrival[1] < 6, schedule))

    whole = first_6_s(0, 1)
    parts = [first_6_s(i, 3) for i in range(3)]
    for index, part in enumerate(parts):
        assert [number % 3 for number, _ in part] == [index] * len(part)
    assert sorted(itertools.chain(*parts)) == whole  # the same arrivals, the same times
    assert len(whole) == pytest.approx(40 * 3 + 60 * 3, rel=0.1)


def test_share_splits_a_total_as_evenly_as_whole_numbers_allow() -> None:
    assert [share(10, i, 3) for i in range(3)] == [4, 3, 3]
    assert sum(share(1000, i, 7) for i in range(7)) == 1000
    assert [share(1, i, 2) for i in range(2)] == [1, 0]


def test_a_profile_needs_a_step() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        Profile(())
