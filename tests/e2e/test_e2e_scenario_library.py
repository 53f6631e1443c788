"""The scenario library, end to end: every shipped scenario runs briefly (time-scaled) against
its example service, in both modes, and must show what its header comment promises.

Each run is the real stack (mock providers, fault proxy, example service and Locust as their
own processes) driven by ``run_scenario`` in this process, so the interpreter start and imports
of ``brownout run`` are paid once, not sixty times. The shipped file runs as is for its own
mode; the other mode is the same file with the service's mode flag swapped.

The promised verdicts are per SLO, keyed by (metric, phase): a naive run must *fail* the SLO
that catches its brownout, a resilient run must pass it, and SLOs the comment says both pass
(or both fail) are held to that too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyze_run
from harness.run import RunOptions, run_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
TIME_SCALE = 0.25

Verdicts = dict[tuple[str, str], bool]
Check = Callable[[dict[str, Any], str], None]


@dataclass(frozen=True)
class Case:
    scenario: str
    flag: str  # the example's mode option: --policy (RAG) or --mode (the others)
    naive: Verdicts
    resilient: Verdicts
    shipped: str = "naive"
    check: Check | None = None
    modes: tuple[str, ...] = ("naive", "resilient")
    time_scale: float = TIME_SCALE


def only_validation_failures(summary: dict[str, Any], mode: str) -> None:
    """Latency and status codes look healthy: every failure is a wrong answer."""
    for phase in ("baseline", "fault", "recovery"):
        classes = summary["phases"][phase]["error_classes"] or {}
        assert set(classes) <= {"validation"}, (phase, classes)


def fails_over_to_backup(summary: dict[str, Any], mode: str) -> None:
    fault = summary["phases"]["fault"]
    if mode == "naive":
        assert fault["error_rate"] > 0.9, fault
    else:
        assert fault["error_rate"] <= 0.05, fault


def duplicates_jobs(summary: dict[str, Any], mode: str) -> None:
    fault = summary["phases"]["fault"]
    if mode == "naive":
        assert fault["repeated_calls"] > 0, fault  # the same job run again, same body
    else:
        assert fault["repeated_calls"] == 0, fault


def no_retry_on_refusals(summary: dict[str, Any], mode: str) -> None:
    fault = summary["phases"]["fault"]
    if mode == "resilient":
        assert fault["fan_out"] == pytest.approx(summary["phases"]["baseline"]["fan_out"], 0.1)
    else:
        assert fault["retry_amplification"] > 3, fault


CASES = [
    Case(
        "latency-spike",
        "--mode",
        naive={("retry_amplification", "fault"): False, ("error_rate", "recovery"): True},
        resilient={("retry_amplification", "fault"): True, ("error_rate", "recovery"): True},
        check=duplicates_jobs,
    ),
    Case(
        "slow-latency-drift",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("error_rate", "recovery"): True},
        resilient={("retry_amplification", "fault"): True, ("error_rate", "recovery"): True},
    ),
    Case(
        "rate-limit-storm",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("good_request_fraction", "fault"): False},
        resilient={("retry_amplification", "fault"): True},
    ),
    Case(
        "provider-outage-failover",
        "--policy",
        naive={("error_rate", "fault"): False, ("error_rate", "recovery"): True},
        resilient={("error_rate", "fault"): True, ("error_rate", "recovery"): True},
        check=fails_over_to_backup,
    ),
    Case(
        "format-drift",
        "--policy",
        shipped="resilient",
        naive={("good_request_fraction", "fault"): True, ("error_rate", "recovery"): True},
        resilient={("good_request_fraction", "fault"): False, ("error_rate", "recovery"): True},
    ),
    Case(
        "tool-call-drift",
        "--mode",
        naive={("error_rate", "fault"): False, ("retry_amplification", "fault"): False},
        resilient={("error_rate", "fault"): True, ("retry_amplification", "fault"): True},
    ),
    Case(
        "tokenizer-context-overflow",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("good_request_fraction", "fault"): False},
        resilient={
            ("retry_amplification", "fault"): True,
            ("good_request_fraction", "fault"): False,
        },
        check=no_retry_on_refusals,
    ),
    Case(
        "safety-filter-surge",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("good_request_fraction", "fault"): False},
        resilient={
            ("retry_amplification", "fault"): True,
            ("good_request_fraction", "fault"): False,
        },
        check=no_retry_on_refusals,
    ),
    Case(
        "streaming-stall-truncation",
        "--mode",
        naive={("latency_p95_ms", "fault"): False, ("error_rate", "recovery"): True},
        resilient={
            ("latency_p95_ms", "fault"): True,
            ("error_rate", "fault"): True,
            ("error_rate", "recovery"): True,
        },
    ),
    Case(
        "correlated-brownout",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("error_rate", "fault"): False},
        resilient={("retry_amplification", "fault"): True, ("error_rate", "fault"): False},
    ),
    Case(
        "stale-retrieval-snapshot",
        "--mode",
        naive={("good_request_fraction", "recovery"): False, ("latency_p95_ms", "recovery"): True},
        resilient={
            ("good_request_fraction", "recovery"): True,
            ("latency_p95_ms", "recovery"): True,
        },
        check=only_validation_failures,
    ),
    Case(
        "inconsistent-answers",
        "--mode",
        naive={("good_request_fraction", "recovery"): False, ("latency_p95_ms", "recovery"): True},
        resilient={
            ("good_request_fraction", "recovery"): True,
            ("latency_p95_ms", "recovery"): True,
        },
        check=only_validation_failures,
    ),
]

# Shipped scenarios tested elsewhere: tests/e2e/test_e2e_quickstart.py runs these.
TESTED_ELSEWHERE = {"quickstart", "resilient"}


def scenario_text(case: Case, mode: str) -> str:
    """The shipped file for its own mode; for the other, the mode flag swapped and
    ``{scenario_dir}`` pinned to scenarios/ (the copy lives in a temporary directory)."""
    text = (SCENARIOS / f"{case.scenario}.yaml").read_text(encoding="utf-8")
    if mode == case.shipped:
        return text
    before = f"{case.flag} {case.shipped}"
    assert text.count(before) == 1, f"{case.scenario}: expected one {before!r} in sut.command"
    text = text.replace(before, f"{case.flag} {mode}")
    return text.replace("{scenario_dir}", str(SCENARIOS))


def run(case: Case, mode: str, tmp_path: Path) -> dict[str, Any]:
    path = SCENARIOS / f"{case.scenario}.yaml"
    if mode != case.shipped:
        path = tmp_path / f"{case.scenario}-{mode}.yaml"
        path.write_text(scenario_text(case, mode), encoding="utf-8")
    reports = tmp_path / "reports"
    result = run_scenario(path, RunOptions(time_scale=case.time_scale, reports_dir=reports))
    assert result.error is None, result.error
    assert not result.aborted
    summary = analyze_run(result.run_dir).model_dump(mode="json")
    assert summary["valid"], summary.get("validity_problems")
    return summary


def verdicts(summary: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(s["metric"], s["phase"]): (s["passed"], s["reason"]) for s in summary["slos"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "mode"),
    [pytest.param(c, m, id=f"{c.scenario}-{m}") for c in CASES for m in c.modes],
)
def test_scenario_shows_what_its_comment_promises(case: Case, mode: str, tmp_path: Path) -> None:
    summary = run(case, mode, tmp_path)
    got = verdicts(summary)
    expected = case.naive if mode == "naive" else case.resilient
    phases = {p: summary["phases"][p] for p in ("baseline", "fault", "recovery")}
    for key, passed in expected.items():
        assert key in got, f"{case.scenario}: no SLO on {key}; has {sorted(got)}"
        assert got[key][0] is passed, (
            f"{case.scenario} ({mode}): {key} expected {'pass' if passed else 'fail'}, "
            f"got {got[key][1]}\n{json.dumps(phases, indent=1, default=str)[:3000]}"
        )
    if case.check is not None:
        case.check(summary, mode)


# ---- the library itself (fast) ----------------------------------------------------------------

HEADER_PARTS = ("Production failure:", "Look for in the report:", "SLOs that catch it:")


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def test_every_shipped_scenario_runs_in_ci() -> None:
    covered = {c.scenario for c in CASES} | TESTED_ELSEWHERE
    assert set(shipped_scenarios()) <= covered, set(shipped_scenarios()) - covered


@pytest.mark.parametrize("case", CASES, ids=[c.scenario for c in CASES])
def test_scenario_opens_with_its_failure_what_to_look_for_and_slos(case: Case) -> None:
    text = (SCENARIOS / f"{case.scenario}.yaml").read_text(encoding="utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert text.startswith("# "), case.scenario
    for part in HEADER_PARTS:
        assert part in header, f"{case.scenario}: header lacks {part!r}"
    for mode in case.modes:
        scenario_text(case, mode)  # the mode flag is where the test expects it


def test_index_lists_every_scenario_once() -> None:
    index = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\[`?([a-z0-9-]+)\.yaml`?\]\(([a-z0-9-]+)\.yaml\)", index)
    names = [a for a, b in listed if a == b]
    assert sorted(names) == shipped_scenarios()
