"""``analyze_run``: one run directory in, one ``Summary`` (and summary.json) out.

This is the only entry point the orchestrator and CLI call; it reads nothing but the run
directory, so ``brownout report DIR`` can re-analyse any run, finished or crashed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from harness.analysis.attribution import attribute_faults, drain_time_s
from harness.analysis.explain import explain_run
from harness.analysis.join import ATTRIBUTED
from harness.analysis.loading import RunData, load_run
from harness.analysis.metrics import (
    compute_phase_metrics,
    compute_timeseries,
    prepare_run,
    steady_fault_fan_out,
)
from harness.analysis.models import AmplificationMethod, Summary
from harness.analysis.phases import Timeline, build_timeline
from harness.analysis.provider_series import with_provider_queue
from harness.analysis.recovery import compute_recovery
from harness.analysis.slos import SLOLike, evaluate_slos, latency_threshold_ms
from harness.analysis.stage_times import stage
from harness.load.health import read_health, saturation

__all__ = [
    "DEFAULT_RECOVERY_EPSILON",
    "DEFAULT_RECOVERY_LATENCY_SLACK_MS",
    "DEFAULT_RECOVERY_WINDOWS",
    "SUMMARY_FILE",
    "analyze_run",
]

SUMMARY_FILE: Final = "summary.json"
#: Written by the Locust subprocess (harness.load.health): the generator's own CPU and lag.
LOAD_HEALTH_FILE: Final = "load_health.jsonl"
#: Recovery means within 10 % of baseline goodput and p95 ...
DEFAULT_RECOVERY_EPSILON: Final = 0.1
#: ... for 3 consecutive windows ...
DEFAULT_RECOVERY_WINDOWS: Final = 3
#: ... where a p95 within this many milliseconds of the baseline's counts as back to baseline.
DEFAULT_RECOVERY_LATENCY_SLACK_MS: Final = 10.0
#: Below this many requests per window, per-window goodput and p95 are mostly noise.
MIN_REQUESTS_PER_WINDOW: Final = 30


def analyze_run(
    run_dir: Path,
    slos: Sequence[SLOLike] | None = None,
    *,
    window_s: float = 1.0,
    recovery_epsilon: float = DEFAULT_RECOVERY_EPSILON,
    recovery_windows: int = DEFAULT_RECOVERY_WINDOWS,
    recovery_latency_slack_ms: float = DEFAULT_RECOVERY_LATENCY_SLACK_MS,
    chunk_rows: int | None = None,
    write: bool = True,
) -> Summary:
    """Compute every metric of ``run_dir`` per phase, judge the SLOs, write summary.json.

    ``slos`` defaults to those of ``run_dir/scenario.yaml`` (none when that file is absent);
    the scenario's warm-up is read from there too. Raises ``ScenarioError`` when scenario.yaml
    exists but is invalid, and ``ValueError`` for a non-positive ``window_s``.
    """
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    if recovery_windows < 1:
        raise ValueError(f"recovery_windows must be >= 1, got {recovery_windows}")
    run_dir = Path(run_dir)
    notes: list[str] = []
    scenario = _load_scenario(run_dir)
    if slos is None:
        slos = list(scenario.slos) if scenario is not None else []
        if scenario is None:
            notes.append("no scenario.yaml in the run directory: no SLOs were evaluated")
    warmup_s = scenario.warmup_s if scenario is not None else None

    with stage("load"):
        data = load_run(run_dir) if chunk_rows is None else load_run(run_dir, chunk_rows=chunk_rows)
    data_start, data_end = _data_span(data)
    timeline = build_timeline(
        data.events, warmup_s=warmup_s, data_start=data_start, data_end=data_end
    )
    notes.extend(timeline.notes)
    threshold = latency_threshold_ms(slos)
    with stage("metrics"):
        prepared = prepare_run(data, timeline, threshold)
        phases = compute_phase_metrics(prepared)
        recovery = compute_recovery(
            prepared,
            phases["baseline"],
            window_s=window_s,
            epsilon=recovery_epsilon,
            windows=recovery_windows,
            latency_slack_ms=recovery_latency_slack_ms,
        )
    base_rate = phases["baseline"].throughput_rps or 0.0
    judged = recovery.verdict != "undetermined"
    if judged and base_rate > 0 and base_rate * window_s < MIN_REQUESTS_PER_WINDOW:
        wider = math.ceil(MIN_REQUESTS_PER_WINDOW / base_rate * 10) / 10
        notes.append(
            f"recovery windows hold only ~{base_rate * window_s:.0f} requests each at the "
            f"baseline rate, so recovery time is noisy; window_s={wider:g} would hold "
            f"{MIN_REQUESTS_PER_WINDOW} or more"
        )
    for name in ("recovery", "run"):
        if recovery.recovery_time_s is None:
            phases[name].unavailable["recovery_time_s"] = recovery.reason
        else:
            phases[name].recovery_time_s = recovery.recovery_time_s
            phases[name].unavailable.pop("recovery_time_s", None)
    with stage("metrics"):
        timeseries = with_provider_queue(compute_timeseries(prepared, window_s=window_s), run_dir)
    explained = explain_run(
        data, prepared, phases, scenario, t0=timeseries.t0, window_s=timeseries.window_s
    )
    results = evaluate_slos(slos, phases)

    drain, drain_reason = drain_time_s(prepared)
    if drain is None and prepared.queue_t.size and "not drained" in drain_reason:
        notes.append(f"drain time unknown: {drain_reason}")
    problems = _validity_problems(data, phases["run"].requests)
    for problem in _unapplied_faults(scenario, timeline):
        if not any(problem.split(" was due")[0] in known for known in problems):
            problems.append(problem)
    for problem in _load_generator_problems(run_dir, timeline, notes):
        if problem not in problems:
            problems.append(problem)
    slos_passed = all(r.passed for r in results)
    amplification = _amplification(prepared)
    if amplification.method != ATTRIBUTED:
        notes.append(
            f"fan-out and retry amplification are a time-based estimate: only "
            f"{amplification.joined_fraction:.1%} of provider calls carry an id (X-Request-Id "
            "or traceparent) that joins a user request"
        )
    summary = Summary(
        run_id=_run_id(data, run_dir),
        scenario=_scenario_name(data, scenario),
        valid=not problems,
        complete=_complete(data, timeline),
        aborted=bool(data.run_info.get("aborted")) or timeline.aborted,
        passed=slos_passed and not problems,
        slos_passed=slos_passed,
        verdict="invalid" if problems else ("passed" if slos_passed else "failed"),
        amplification=amplification,
        validity_problems=problems,
        notes=notes,
        load_started=timeline.load_started,
        load_stopped=timeline.load_stopped,
        warmup_s=warmup_s,
        latency_threshold_ms=threshold,
        phases=phases,
        faults=attribute_faults(data, prepared),
        slos=results,
        recovery=recovery,
        drain_time_s=drain,
        timeseries=timeseries,
        skipped_lines=data.skipped_lines,
        **explained.summary_fields(),
    )
    if write:
        summary.write(run_dir / SUMMARY_FILE)
    return summary


BOUNDARY_RULE: Final = (
    "a request belongs to the phase in which it started, except that a request started in "
    "the baseline and still in flight when the first fault was applied is a fault-phase "
    "request; a provider call belongs to its request's phase"
)


def _amplification(prepared: Any) -> AmplificationMethod:
    _, basis = steady_fault_fan_out(prepared)
    return AmplificationMethod(
        method=prepared.method,
        joined_fraction=prepared.joined_fraction,
        boundary_rule=BOUNDARY_RULE
        if prepared.method == ATTRIBUTED
        else "calls count in the phase they arrived in, requests in the phase they started "
        "in (ids do not join): an estimate, biased at the edges of a fault window",
        fault_basis=basis,
    )


def _unapplied_faults(scenario: Any, timeline: Timeline) -> list[str]:
    """A planned fault that never shows as applied, although the run got past its start time,
    means the run did not test what the scenario says (e.g. the timeline thread died)."""
    if scenario is None or timeline.load_started is None:
        return []
    reached = timeline.load_stopped if timeline.load_stopped is not None else timeline.data_end
    if reached is None:
        return []
    applied = {f.name for f in timeline.faults}
    problems = []
    for fault in scenario.faults:
        due = timeline.load_started + fault.at_s
        if fault.name not in applied and due < reached:
            problems.append(
                f"fault {fault.name!r} was due {fault.at_s:g} s into the load and was never applied"
            )
    return problems


def _load_scenario(run_dir: Path) -> Any:
    path = run_dir / "scenario.yaml"
    if not path.is_file():
        return None
    # Imported here so analysis of a bare run directory does not need the scenario package's
    # optional pieces; the resolved scenario.yaml already has its time scale applied.
    from harness.scenario import load_scenario

    return load_scenario(path)


def _data_span(data: RunData) -> tuple[float | None, float | None]:
    starts: list[float] = []
    ends: list[float] = []
    for series in (
        data.requests["t_start"],
        data.provider_calls["t"],
        data.sut_metrics["t"],
    ):
        if series.notna().any():
            starts.append(float(series.min()))
            ends.append(float(series.max()))
    if data.requests["t_end"].notna().any():
        ends.append(float(data.requests["t_end"].max()))
    event_times = [float(e["t"]) for e in data.events]
    if event_times:
        ends.append(max(event_times))
    return (min(starts) if starts else None, max(ends) if ends else None)


def _validity_problems(data: RunData, run_requests: int | None) -> list[str]:
    """Every reason not to trust the run: run.json's own list, every invalidating warning in
    events.jsonl (the orchestrator writes both; events survive a crashed orchestrator), a run
    that ended in error, and a run with no requests."""
    problems: list[str] = []

    def add(problem: str) -> None:
        if problem not in problems:
            problems.append(problem)

    listed = data.run_info.get("validity_problems")
    if isinstance(listed, list):
        for problem in listed:
            add(str(problem))
    for event in data.events:
        # The orchestrator flags a run it cannot trust (a fault not applied, a dead component,
        # a saturated load generator...) with a warning that carries "invalidates": true.
        if event.get("type") == "warning" and event.get("invalidates") is True:
            add(str(event.get("message", "a warning invalidated the run")))
    error = data.run_info.get("error")
    if data.run_info.get("exit_status") == "error" and not problems:
        first = str(error).splitlines()[0] if error else "no reason recorded"
        add(f"the run ended in error: {first}")
    if data.run_info.get("valid") is False and not problems:
        add("run.json marks the run invalid")
    if not run_requests:
        add("no user requests were recorded after warm-up")
    return problems


def _load_generator_problems(run_dir: Path, timeline: Timeline, notes: list[str]) -> list[str]:
    """A saturated load generator makes the run invalid (its limits are not the SUT's).

    Only samples after warm-up and before the load stopped count: start-up is allowed to be busy.
    """
    path = run_dir / LOAD_HEALTH_FILE
    if not path.is_file() or timeline.boundaries is None:
        return []
    start, stop = timeline.boundaries[1], timeline.boundaries[-1]
    try:
        samples = [s for s in read_health(path) if start <= s.t < stop]
    except (ValueError, KeyError, TypeError) as exc:
        notes.append(f"{LOAD_HEALTH_FILE} is unreadable ({exc}); load generator health unknown")
        return []
    verdict = saturation(samples)
    return [verdict] if verdict is not None else []


def _complete(data: RunData, timeline: Timeline) -> bool:
    flag = data.run_info.get("complete")
    if isinstance(flag, bool):
        return flag
    ended_ok = any(e.get("type") == "run_ended" and e.get("status") == "ok" for e in data.events)
    return ended_ok and not timeline.aborted


def _run_id(data: RunData, run_dir: Path) -> str:
    value = data.run_info.get("run_id")
    if isinstance(value, str) and value:
        return value
    for event in data.events:
        if event.get("type") == "run_started" and isinstance(event.get("run_id"), str):
            return str(event["run_id"])
    return run_dir.name


def _scenario_name(data: RunData, scenario: Any) -> str:
    value = data.run_info.get("scenario")
    if isinstance(value, str) and value:
        return value
    if scenario is not None:
        return str(scenario.name)
    for event in data.events:
        if event.get("type") == "run_started" and isinstance(event.get("scenario"), str):
            return str(event["scenario"])
    return "unknown"
