"""The scenario library, end to end: every shipped scenario runs briefly (time-scaled) against
its example service and must show what its header comment promises.

Each run is the real CLI (``brownout run``) and the real stack (mock providers, fault proxy,
example service and Locust as their own processes), one run at a time (two runs sharing 2
cores make the fault timeline late enough for the analysis to mark them invalid). Every
scenario runs once in its shipped mode; the other mode (the same file with the mode flag
swapped) only where it proves a promise no other test proves, which keeps the library within
its CI budget.

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

from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
TIME_SCALE = 0.2

Verdicts = dict[tuple[str, str], bool]
Check = Callable[[dict[str, Any], str], None]
MODES = ("naive", "resilient")
MODE_OPTION = re.compile(r"(--policy|--mode) (naive|resilient)\b")


def slos(*promises: str) -> Verdicts:
    """``"fail retry_amplification fault"`` -> {("retry_amplification", "fault"): False}."""
    verdicts: Verdicts = {}
    for promise in promises:
        outcome, metric, phase = promise.split()
        assert outcome in ("pass", "fail"), promise
        verdicts[(metric, phase)] = outcome == "pass"
    return verdicts


@dataclass(frozen=True)
class Case:
    """One scenario: the modes run here, each with the SLO verdicts its header promises.

    Every scenario runs in its shipped mode; the other mode runs only where it proves a
    promise no other test proves (the rest are unit-tested against the example service in
    tests/examples/: leases, failover, retry-after, refusals, private snapshots).
    """

    scenario: str
    runs: dict[str, Verdicts]
    check: Check | None = None
    time_scale: float = TIME_SCALE

    @property
    def text(self) -> str:
        return (SCENARIOS / f"{self.scenario}.yaml").read_text(encoding="utf-8")

    @property
    def mode_option(self) -> tuple[str, str]:
        """The example's mode flag in sut.command (``--policy`` for the RAG service, ``--mode``
        for the others) and the mode the file ships with."""
        body = "\n".join(line for line in self.text.splitlines() if not line.startswith("#"))
        found = MODE_OPTION.findall(body)
        assert len(found) == 1, f"{self.scenario}: expected one mode flag, found {found}"
        flag, shipped = found[0]
        return flag, shipped

    @property
    def shipped(self) -> str:
        return self.mode_option[1]


def only_validation_failures(summary: dict[str, Any], mode: str) -> None:
    """Latency and status codes look healthy: every failure is a wrong answer."""
    for phase in ("baseline", "fault", "recovery"):
        classes = summary["phases"][phase]["error_classes"] or {}
        assert set(classes) <= {"validation"}, (phase, classes)


def nothing_reaches_the_fallback(summary: dict[str, Any], mode: str) -> None:
    assert summary["phases"]["fault"]["error_rate"] > 0.9, summary["phases"]["fault"]


def duplicates_jobs(summary: dict[str, Any], mode: str) -> None:
    fault = summary["phases"]["fault"]
    assert fault["repeated_calls"] > 0, fault  # the same job run again, same body


def retries_refusals(summary: dict[str, Any], mode: str) -> None:
    assert summary["phases"]["fault"]["retry_amplification"] > 3, summary["phases"]["fault"]


def recovery_verdict(summary: dict[str, Any], mode: str) -> None:
    """The metastable scenario's whole point: the same trigger, two different recoveries."""
    expected = "metastable" if mode == "naive" else "recovered"
    assert summary["recovery"]["verdict"] == expected, summary["recovery"]["reason"]


def sheds_at_the_door(summary: dict[str, Any], mode: str) -> None:
    fault = summary["phases"]["fault"]
    if mode == "naive":
        assert fault["error_rate"] == 0, fault  # everything served, late
    else:
        assert set(fault["error_classes"] or {}) == {"http_503"}, fault


CASES = [
    Case(
        "latency-spike",
        {"naive": slos("fail retry_amplification fault", "pass error_rate recovery")},
        check=duplicates_jobs,
    ),
    Case("slow-latency-drift", {"naive": slos("fail fan_out fault")}),
    Case(
        "rate-limit-storm",
        {"naive": slos("fail retry_amplification fault", "fail good_request_fraction fault")},
    ),
    Case(
        "provider-outage-failover",
        {"naive": slos("fail error_rate fault", "pass error_rate recovery")},
        check=nothing_reaches_the_fallback,
    ),
    Case(
        "format-drift",
        {"resilient": slos("fail good_request_fraction fault", "pass retry_amplification fault")},
    ),
    Case(
        "tool-call-drift",
        {"naive": slos("fail error_rate fault", "pass error_rate recovery")},
    ),
    Case(
        "tokenizer-context-overflow",
        {"naive": slos("fail retry_amplification fault", "fail good_request_fraction fault")},
        check=retries_refusals,
    ),
    Case(
        "safety-filter-surge",
        {"naive": slos("fail retry_amplification fault", "fail good_request_fraction fault")},
        check=retries_refusals,
    ),
    Case(
        "token-cost-explosion",
        {"naive": slos("fail wasted_tokens fault", "fail fan_out fault")},
    ),
    # Resilient too: its stall timeout is proven nowhere else.
    Case(
        "streaming-stall-truncation",
        {
            "naive": slos("fail latency_p95_ms fault", "pass error_rate recovery"),
            "resilient": slos("pass latency_p95_ms fault", "pass error_rate fault"),
        },
    ),
    # Resilient too: failover with nowhere to go still fails its users.
    Case(
        "correlated-brownout",
        {
            "naive": slos("fail retry_amplification fault", "fail error_rate fault"),
            "resilient": slos("pass retry_amplification fault", "fail error_rate fault"),
        },
    ),
    Case(
        "stale-retrieval-snapshot",
        {"naive": slos("fail good_request_fraction recovery", "pass latency_p95_ms recovery")},
        check=only_validation_failures,
    ),
    Case(
        "inconsistent-answers",
        {"naive": slos("fail good_request_fraction recovery", "pass latency_p95_ms recovery")},
        check=only_validation_failures,
    ),
    # Both modes: one trigger, two recoveries. 0.3 keeps 15 s of recovery, more than the 10 s
    # the recovery rule needs to call a brownout metastable.
    Case(
        "metastable-retry-storm",
        {
            "naive": slos("fail recovery_time_s recovery", "fail error_rate recovery"),
            "resilient": slos("pass recovery_time_s recovery", "pass error_rate recovery"),
        },
        check=recovery_verdict,
        time_scale=0.3,
    ),
    # Both modes: the backlog, and the shedding that prevents it.
    Case(
        "traffic-spike-backlog",
        {
            "naive": slos("fail latency_p95_ms fault", "fail max_queue_depth fault"),
            "resilient": slos(
                "pass latency_p95_ms fault",
                "pass max_queue_depth fault",
                "pass latency_p95_ms recovery",
            ),
        },
        check=sheds_at_the_door,
    ),
    # The quickstart's brownout under a closed model (from the load work); its header states
    # no resilient side.
    Case(
        "closed-users",
        {"naive": slos("fail retry_amplification fault", "pass error_rate recovery")},
    ),
]

# Shipped scenarios tested elsewhere: tests/e2e/test_e2e_quickstart.py runs these.
TESTED_ELSEWHERE = {"quickstart", "resilient"}

RUNS = [(case, mode) for case in CASES for mode in case.runs]


def scenario_text(case: Case, mode: str) -> str:
    """The shipped file for its own mode; for the other, the mode flag swapped and
    ``{scenario_dir}`` pinned to scenarios/ (the copy lives in a temporary directory)."""
    text = case.text
    flag, shipped = case.mode_option
    if mode == shipped:
        return text
    lines = [  # sut.command only: the header names the other mode in its run line
        line if line.startswith("#") else line.replace(f"{flag} {shipped}", f"{flag} {mode}")
        for line in text.splitlines(keepends=True)
    ]
    text = "".join(lines)
    swapped = MODE_OPTION.findall("".join(line for line in lines if not line.startswith("#")))
    assert swapped == [(flag, mode)], f"{case.scenario}: {swapped}"
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


def verdicts(summary: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(s["metric"], s["phase"]): (s["passed"], s["reason"]) for s in summary["slos"]}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "mode"), RUNS, ids=[f"{case.scenario}-{mode}" for case, mode in RUNS]
)
def test_scenario_shows_what_its_comment_promises(case: Case, mode: str, tmp_path: Path) -> None:
    summary = finish(*start(case, mode, tmp_path))
    assert summary["valid"], f"{case.scenario} ({mode}): {summary.get('validity_problems')}"
    got = verdicts(summary)
    failures: list[str] = []
    for key, passed in case.runs[mode].items():
        if key not in got:
            failures.append(f"no SLO on {key}; has {sorted(got)}")
        elif got[key][0] is not passed:
            want = "pass" if passed else "fail"
            failures.append(f"{key} expected to {want}, got: {got[key][1]}")
    phases = {p: summary["phases"][p] for p in ("baseline", "fault", "recovery")}
    assert not failures, f"{case.scenario} ({mode}):\n" + "\n".join(
        [*failures, json.dumps(phases, default=str)[:2500]]
    )
    if case.check is not None:
        case.check(summary, mode)


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
    for mode in MODES:
        scenario_text(case, mode)  # the mode flag is where the test expects it


def test_index_lists_every_scenario_once() -> None:
    index = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"\[`?([a-z0-9-]+)\.yaml`?\]\(([a-z0-9-]+)\.yaml\)", index)
    names = [a for a, b in listed if a == b]
    assert sorted(names) == shipped_scenarios()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.scenario)
def test_every_promise_is_an_slo_of_the_scenario_and_the_shipped_mode_runs(case: Case) -> None:
    """Offline: a promise about an SLO the file does not have could only fail after a run."""
    assert case.shipped in case.runs, f"{case.scenario}: its shipped mode must run"
    scenario = load_scenario(SCENARIOS / f"{case.scenario}.yaml")
    declared = {(slo.metric, slo.phase) for slo in scenario.slos}
    for mode, promised in case.runs.items():
        assert set(promised) <= declared, (mode, set(promised) - declared)
