"""The scenario library, end to end: every shipped scenario runs briefly (time-scaled) against
its example service, in both modes, and must show what its header comment promises.

Each run is the real CLI (``brownout run``) and the real stack (mock providers, fault proxy,
example service and Locust as their own processes), one run at a time. The shipped file runs
as is for its own mode; the other mode is the same file with the mode flag swapped.

The promised verdicts are per SLO, keyed by (metric, phase): a naive run must *fail* the SLO
that catches its brownout, a resilient run must pass it, and SLOs the comment says both pass
(or both fail) are held to that too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
TIME_SCALE = 0.2

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
        naive={("fan_out", "fault"): False},
        resilient={("fan_out", "fault"): True},
    ),
    Case(
        "rate-limit-storm",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("good_request_fraction", "fault"): False},
        resilient={
            ("retry_amplification", "fault"): True,
            ("good_request_fraction", "fault"): True,
        },
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
        naive={("good_request_fraction", "fault"): True, ("retry_amplification", "fault"): False},
        resilient={
            ("good_request_fraction", "fault"): False,
            ("retry_amplification", "fault"): True,
        },
    ),
    Case(
        "tool-call-drift",
        "--mode",
        naive={("error_rate", "fault"): False, ("error_rate", "recovery"): True},
        resilient={("error_rate", "fault"): True, ("error_rate", "recovery"): True},
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
        "token-cost-explosion",
        "--policy",
        naive={("wasted_tokens", "fault"): False, ("fan_out", "fault"): False},
        resilient={("wasted_tokens", "fault"): False, ("fan_out", "fault"): True},
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

# The quickstart's brownout under a closed model (scenarios/closed-users.yaml, from the load
# work): run here too so every shipped file runs in CI; its header states no resilient side.
CASES.append(
    Case(
        "closed-users",
        "--policy",
        naive={("retry_amplification", "fault"): False, ("error_rate", "recovery"): True},
        resilient={},
        modes=("naive",),
    )
)

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


def start(case: Case, mode: str, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """``brownout run`` of one mode in its own process and reports directory."""
    path = SCENARIOS / f"{case.scenario}.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    if mode != case.shipped:
        path = tmp_path / f"{case.scenario}-{mode}.yaml"
        path.write_text(scenario_text(case, mode), encoding="utf-8")
    reports = tmp_path / mode
    argv = [sys.executable, "-m", "harness", "run", str(path), "--quiet"]
    argv += ["--time-scale", str(case.time_scale), "--reports-dir", str(reports)]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    )
    return process, reports


def finish(process: subprocess.Popen[str], reports: Path) -> dict[str, Any]:
    try:
        output, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in output, output
    runs = [p for p in reports.iterdir() if p.is_dir()]
    assert len(runs) == 1, output
    summary: dict[str, Any] = json.loads((runs[0] / "summary.json").read_text())
    return summary


def run_modes(case: Case, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Each mode in turn: two runs sharing 2 cores make the fault timeline late enough for the
    analysis to mark them invalid, which costs more than it saves."""
    summaries: dict[str, dict[str, Any]] = {}
    for mode in case.modes:
        summary = finish(*start(case, mode, tmp_path / mode))
        assert summary["valid"], f"{case.scenario} ({mode}): {summary.get('validity_problems')}"
        summaries[mode] = summary
    return summaries


def verdicts(summary: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(s["metric"], s["phase"]): (s["passed"], s["reason"]) for s in summary["slos"]}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.scenario for c in CASES])
def test_scenario_shows_what_its_comment_promises(case: Case, tmp_path: Path) -> None:
    failures: list[str] = []
    for mode, summary in run_modes(case, tmp_path).items():
        got = verdicts(summary)
        expected = case.naive if mode == "naive" else case.resilient
        phases = {p: summary["phases"][p] for p in ("baseline", "fault", "recovery")}
        for key, passed in expected.items():
            if key not in got:
                failures.append(f"{mode}: no SLO on {key}; has {sorted(got)}")
            elif got[key][0] is not passed:
                want = "pass" if passed else "fail"
                failures.append(f"{mode}: {key} expected to {want}, got: {got[key][1]}")
        if failures:
            failures.append(json.dumps(phases, default=str)[:2500])
        if case.check is not None and not failures:
            case.check(summary, mode)
    assert not failures, f"{case.scenario}:\n" + "\n".join(failures)


# ---- the library itself (fast) ----------------------------------------------------------------

# Scenarios written for the library, in its header format (the others predate it).
LIBRARY = {c.scenario for c in CASES} - {"closed-users"}

HEADER_PARTS = ("Production failure:", "Look for in the report:", "SLOs that catch it:")


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def test_every_shipped_scenario_runs_in_ci() -> None:
    covered = {c.scenario for c in CASES} | TESTED_ELSEWHERE
    assert set(shipped_scenarios()) <= covered, set(shipped_scenarios()) - covered


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.scenario in LIBRARY], ids=lambda c: c.scenario
)
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
