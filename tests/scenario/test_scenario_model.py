"""The scenario model: defaults, durations, time scaling, the shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.scenario import (
    SLO_METRICS,
    format_duration,
    load_scenario,
    parse_duration,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))

MINIMAL = """
name: minimal
duration: 30s
sut: {url: "http://127.0.0.1:9"}
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("300ms", 0.3), ("20s", 20.0), ("1.5m", 90.0), ("1h", 3600.0), (12, 12.0), ("7", 7.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["soon", "-1s", "1d", True, None, [1]])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for seconds in (0.3, 1.0, 20.0, 0.0125, 90.0):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


def test_defaults() -> None:
    scenario = parse_scenario(MINIMAL)
    assert scenario.load.users == 4
    assert scenario.load.request.method == "POST"
    assert scenario.warmup_s == 0
    assert scenario.faults == []


def test_time_scale_scales_timeline_not_magnitudes() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", time_scale=0.25)
    original = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    assert scenario.duration_s == pytest.approx(original.duration_s / 4)
    assert scenario.warmup_s == pytest.approx(original.warmup_s / 4)
    for fast, slow in zip(scenario.faults, original.faults, strict=True):
        assert fast.at_s == pytest.approx(slow.at_s / 4)
        assert fast.for_s == pytest.approx(slow.for_s / 4)
        assert fast.attributes == slow.attributes
        assert fast.params == slow.params
    assert scenario.load.wait_s == original.load.wait_s


def test_time_scale_scales_provider_schedules() -> None:
    text = (
        MINIMAL
        + """providers: {llm: {flavour: openai}}
faults:
  - {name: b, target: provider/llm, type: error, at: 4s, for: 20s, burst: {on: 2s, off: 6s}}
  - {name: r, target: provider/llm, type: latency, at: 4s, for: 20s, ramp: {over: 10s}}
  - {name: w, target: provider/llm, type: latency, at: 4s, for: 20s, ramp: {to: 0.5}}
"""
    )
    burst, ramp, window = parse_scenario(text).scaled(0.25).faults
    assert burst.schedule()["burst"] == {"on_s": 0.5, "off_s": 1.5}
    assert ramp.schedule()["ramp"]["over_s"] == pytest.approx(2.5)
    assert window.schedule()["ramp"]["over_s"] == pytest.approx(5.0)  # the scaled window


def test_resolved_yaml_loads_back_equal() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml", time_scale=0.5)
    text = yaml.safe_dump(scenario.to_yaml_data(), sort_keys=False)
    assert parse_scenario(text) == scenario


def test_slo_default_name() -> None:
    scenario = parse_scenario(
        MINIMAL + "slos:\n  - {metric: error_rate, phase: baseline, max: 0.05}\n"
    )
    assert scenario.slos[0].name == "error_rate in baseline <= 0.05"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    scenario = load_scenario(path)
    assert all(slo.metric in SLO_METRICS for slo in scenario.slos)


def test_loopback_allowed_explicitly() -> None:
    text = MINIMAL.replace("127.0.0.1:9", "10.0.0.1:9") + "allow_non_loopback: true\n"
    assert parse_scenario(text).sut.url == "http://10.0.0.1:9"
