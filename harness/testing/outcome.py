"""Run a scenario from a test and get its verdict back as an object, not an exit code.

``run_scenario_file`` does what ``brownout run`` does (start, drive, stop, analyse, write
report.html / junit.xml / summary.md) and returns a ``RunOutcome``; ``assert_slos`` and
``assert_metric`` fail with a message that names the broken SLO, the figures and the report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import BrownoutError, InfrastructureError
from harness.run import RunOptions, run_scenario

__all__ = ["RunOutcome", "assert_metric", "assert_slos", "run_scenario_file"]

if TYPE_CHECKING:  # analysis loads pandas: only when a run is analysed, not at import
    from harness.analysis import Summary


@dataclass(frozen=True)
class RunOutcome:
    """What a run measured: ``summary`` (per-phase metrics, SLO verdicts) and where it is."""

    run_dir: Path
    summary: Summary
    report: Path

    @property
    def passed(self) -> bool:
        return bool(self.summary.passed)

    @property
    def failed_slos(self) -> list[Any]:
        return [slo for slo in self.summary.slos if not slo.passed]

    def metric(self, name: str, phase: str = "run") -> Any:
        """One figure of one phase (``outcome.metric("retry_amplification", "fault")``)."""
        metrics = self.summary.phases.get(phase)
        if metrics is None:
            raise KeyError(f"no phase {phase!r} in this run; it has {sorted(self.summary.phases)}")
        return getattr(metrics, name)

    def describe(self) -> str:
        """The per-phase figures and every SLO, as ``brownout run`` prints them."""
        lines = []
        for phase in ("baseline", "fault", "recovery"):
            m = self.summary.phases.get(phase)
            if m is None:
                continue
            lines.append(
                f"  {phase:<9} requests={m.requests or 0} error_rate={_fmt(m.error_rate, '.1%')} "
                f"amplification={_fmt(m.retry_amplification, '.2f')} "
                f"p95={_fmt(m.latency_p95_ms, '.0f', 'ms')}"
            )
        for slo in self.summary.slos:
            lines.append(f"  [{'PASS' if slo.passed else 'FAIL'}] {slo.name}: {slo.reason}")
        lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else f"{format(value, spec)}{unit}"


def run_scenario_file(
    scenario: str | Path | Mapping[str, Any],
    *,
    reports_dir: Path | None = None,
    time_scale: float = 1.0,
    sut_url: str | None = None,
    toxiproxy_url: str | None = None,
) -> RunOutcome:
    """Run ``scenario`` (a file, or the scenario as a mapping) and analyse it.

    ``sut_url`` replaces the scenario's ``sut`` with a service the test already started (its
    ``health`` and ``metrics`` paths are kept). Raises ``BrownoutError`` (``ScenarioError`` for
    an invalid scenario) when the run could not produce a verdict.
    """
    from harness.analysis import analyze_run
    from harness.report import render_report

    reports = reports_dir or Path(tempfile.mkdtemp(prefix="brownout-reports-"))
    path, written = _scenario_path(scenario, reports, sut_url)
    options = RunOptions(time_scale=time_scale, reports_dir=reports, toxiproxy_url=toxiproxy_url)
    try:
        result = run_scenario(path, options)
    finally:
        if written:
            path.unlink(missing_ok=True)
    if result.error is not None:
        raise result.error
    if result.aborted:
        raise KeyboardInterrupt
    requests = result.run_dir / "requests.jsonl"
    if not requests.exists() or requests.stat().st_size == 0:
        raise InfrastructureError(f"the run produced no request records ({result.run_dir})")
    summary = analyze_run(result.run_dir)
    paths = render_report(result.run_dir, summary)
    report = next((p for p in paths if p.suffix == ".html"), result.run_dir / "report.html")
    return RunOutcome(run_dir=result.run_dir, summary=summary, report=report)


def _scenario_path(
    scenario: str | Path | Mapping[str, Any], reports: Path, sut_url: str | None
) -> tuple[Path, bool]:
    """The file to run, and whether it was written here (and is to be removed after)."""
    if isinstance(scenario, Mapping):
        data = dict(scenario)
        source_dir = reports
    else:
        source = Path(scenario)
        if sut_url is None:
            return source, False
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise BrownoutError(f"{source}: cannot read the scenario: {exc}") from None
        source_dir = source.resolve().parent
    if sut_url is not None:
        sut = data.get("sut")
        old: dict[str, Any] = sut if isinstance(sut, dict) else {}
        data["sut"] = {"url": sut_url, **{k: old[k] for k in ("health", "metrics") if k in old}}
    reports.mkdir(parents=True, exist_ok=True)
    # Beside the original, so {scenario_dir} and relative paths mean what they meant there.
    with tempfile.NamedTemporaryFile(
        "w", suffix=".yaml", prefix=".brownout-", dir=source_dir, delete=False, encoding="utf-8"
    ) as handle:
        yaml.safe_dump(data, handle, sort_keys=False)
    return Path(handle.name), True


def assert_slos(outcome: RunOutcome) -> None:
    """Fail unless every SLO held; the message names each broken one with its figures."""
    failed = outcome.failed_slos
    if not failed and outcome.passed:
        return
    names = ", ".join(slo.name for slo in failed) or "the run was not valid"
    raise AssertionError(
        f"brownout: {len(failed)} of {len(outcome.summary.slos)} SLOs failed in "
        f"{outcome.run_dir.name}: {names}\n{outcome.describe()}"
    )


def assert_metric(
    outcome: RunOutcome,
    name: str,
    *,
    phase: str = "run",
    max: float | None = None,
    min: float | None = None,
) -> None:
    """Fail unless ``name`` in ``phase`` is within ``max``/``min``; the message gives the value,
    the bound and the report path."""
    if max is None and min is None:
        raise ValueError("assert_metric needs max= or min=")
    value = outcome.metric(name, phase)
    bound = f"<= {max:g}" if max is not None else f">= {min:g}"
    broken = value is None or (max is not None and value > max) or (min is not None and value < min)
    if broken:
        found = "could not be computed" if value is None else f"= {value:g}"
        raise AssertionError(
            f"brownout: {name} in {phase} {found}, expected {bound}\n{outcome.describe()}"
        )
