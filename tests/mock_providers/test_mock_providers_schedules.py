"""Fault schedules (`first`, `every`, `burst`, `ramp`) and faults aimed by `x-brownout-fault`."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from mockprov_support import Mock

from mock_providers.core.faults import parse_fault

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def put(mock: Mock, **fault: Any) -> httpx.Response:
    return mock.http.post("/_brownout/faults", json=fault)


def statuses(mock: Mock, n: int, **headers: str) -> list[int]:
    return [
        mock.http.post("/v1/chat/completions", json=BODY, headers=headers).status_code
        for _ in range(n)
    ]


def test_first_and_every(openai_mock: Mock) -> None:
    r = put(openai_mock, name="start", type="error", first=3, params={"status": 503})
    assert r.status_code == 201 and r.json()["first"] == 3
    assert statuses(openai_mock, 5) == [503, 503, 503, 200, 200]
    openai_mock.clear_faults()
    put(openai_mock, name="third", type="error", every=3, params={"status": 500})
    assert statuses(openai_mock, 7) == [200, 200, 500, 200, 200, 500, 200]


def test_burst_cycle_and_magnitude_ramp() -> None:
    """The decision at given fault ages (the real Fault, with its clock given)."""
    fault = parse_fault(
        {"name": "b", "type": "error", "burst": {"on_s": 2, "off_s": 3}},
        seed=0,
        flavour="openai",
        drift_profiles=(),
    )
    fault.applied_at = 100.0
    ages = [0.0, 1.9, 2.0, 4.9, 5.0, 6.5, 7.5, 12.0]
    assert [fault.fires(100.0 + a) for a in ages] == [
        True, True, False, False, True, True, False, False,
    ]  # fmt: skip
    slow = parse_fault(
        {
            "name": "s",
            "type": "latency",
            "ramp": {"over_s": 10, "from": 1, "to": 3, "of": "magnitude"},
        },
        seed=0,
        flavour="openai",
        drift_profiles=(),
    )
    assert slow.ramp_value(0) == 1 and slow.ramp_value(5) == 2 and slow.ramp_value(99) == 3


def test_ramp_of_probability_rises(openai_mock: Mock) -> None:
    put(openai_mock, name="r", type="error", ramp={"over_s": 1.0, "from": 0.0, "to": 1.0})
    early = statuses(openai_mock, 1)[0]
    time.sleep(1.05)
    assert statuses(openai_mock, 20) == [500] * 20  # at the end of the ramp: probability 1
    assert early in (200, 500)
    openai_mock.clear_faults()
    put(openai_mock, name="zero", type="error", ramp={"over_s": 3600, "from": 0.0, "to": 0.0})
    assert statuses(openai_mock, 20) == [200] * 20


def test_header_aims_a_fault_at_one_request(openai_mock: Mock) -> None:
    put(openai_mock, name="aimed", type="error", header_only=True, params={"status": 502})
    assert statuses(openai_mock, 3) == [200, 200, 200]
    assert statuses(openai_mock, 1, **{"x-brownout-fault": "aimed"}) == [502]
    # An ordinary fault is forced by the header too, whatever its probability.
    put(openai_mock, name="rare", type="error", probability=0.0, params={"status": 504})
    assert statuses(openai_mock, 1, **{"x-brownout-fault": "rare"}) == [504]
    r = openai_mock.http.post(
        "/v1/chat/completions", json=BODY, headers={"x-brownout-fault": "nope"}
    )
    assert r.status_code == 400 and "names no active fault: nope" in r.json()["error"]["message"]
    assert openai_mock.http.get("/_brownout/health").status_code == 200
    rows = openai_mock.calls(6)
    assert [r["fault"] for r in rows[3:5]] == ["aimed", "rare"]


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"first": -1}, "`first` must be an integer >= 1"),
        ({"every": 0}, "`every` must be an integer >= 1"),
        ({"burst": {"on_s": 1}}, "`burst.off_s` must be seconds"),
        ({"burst": {"on": 1, "off": 1}}, "unknown `burst` keys: off, on"),
        ({"ramp": {"over_s": 5, "to": 2}}, "`ramp.to` of probability must be in [0, 1]"),
        ({"ramp": {"over_s": 5, "of": "magnitude"}}, "ramp of magnitude needs a fault"),
        ({"header_only": "yes"}, "`header_only` must be true or false"),
        ({"evry": 2}, "unknown fault keys: evry"),
    ],
)
def test_bad_schedules_are_400(openai_mock: Mock, fault: dict[str, Any], words: str) -> None:
    r = put(openai_mock, name="x", type="error", **fault)
    assert r.status_code == 400 and words in r.json()["error"]
