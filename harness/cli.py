"""The ``brownout`` command. Thin: it parses arguments, calls library functions and turns
``BrownoutError`` into a message and its exit code (0 pass, 1 SLO failed, 2 usage or invalid
scenario, 3 infrastructure, 130 interrupted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

import harness
from harness.commands.cleanup import cleanup as cleanup_command
from harness.commands.cleanup import stop as stop_command
from harness.commands.compare import compare as compare_command
from harness.commands.faults import faults as faults_command
from harness.commands.init import init as init_command
from harness.commands.worker import worker as worker_command
from harness.errors import BrownoutError, InfrastructureError, ScenarioError, UsageError

if TYPE_CHECKING:
    from harness.analysis import Summary

__all__ = ["main"]

EXIT_INTERRUPTED = 130


def _fail(error: BrownoutError) -> NoReturn:
    click.echo(f"brownout: {error}", err=True)
    sys.exit(error.exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(harness.__version__, prog_name="brownout")
def cli() -> None:
    """Chaos and load testing for AI pipelines: mock LLM providers and network faults behind
    your service, Locust load in front, and a report of how it browned out."""


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0.01, max=100),
    default=1.0,
    show_default=True,
    help="Multiply the scenario's timeline (duration, warm-up, fault windows) by this factor.",
)
@click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where the run directory is created.",
)
@click.option(
    "--toxiproxy-url",
    envvar="TOXIPROXY_URL",
    default=None,
    help="Use the Toxiproxy server at this URL instead of the embedded one [env: TOXIPROXY_URL].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=1,
    show_default=True,
    help="Send the load from a Locust master and this many local worker processes "
    "(0: remote workers only).",
)
@click.option(
    "--remote-workers",
    type=click.IntRange(min=0, max=64),
    default=0,
    show_default=True,
    help="Also wait for this many 'brownout worker --master HOST:PORT' processes to join.",
)
@click.option(
    "--master-bind",
    metavar="HOST[:PORT]",
    default=None,
    help="Where the Locust master listens for workers (default 127.0.0.1 and, with "
    "--remote-workers, port 5557; 0.0.0.0 to accept other machines).",
)
@click.option(
    "--remote-timeout",
    type=click.FloatRange(min=1, max=3600),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the remote workers before giving up (exit 3).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict and the report path.")
@click.option(
    "--baseline",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A stored run (its directory or summary.json) to compare against; a metric that "
    "regressed beyond its tolerance fails the run (exit 1).",
)
@click.option(
    "--tolerance",
    "tolerance_values",
    multiple=True,
    metavar="FRACTION|METRIC=FRACTION",
    help="With --baseline: relative change allowed (0.1 by default; latency_p95_ms=0.3 for one "
    "metric). Repeatable.",
)
def run(
    scenario: Path,
    time_scale: float,
    reports_dir: Path,
    toxiproxy_url: str | None,
    workers: int,
    remote_workers: int,
    master_bind: str | None,
    remote_timeout: float,
    quiet: bool,
    baseline: Path | None,
    tolerance_values: tuple[str, ...],
) -> None:
    """Run SCENARIO (a YAML file), then analyse it and write the reports.

    Exits 0 when every SLO holds (and, with --baseline, nothing regressed), 1 when one fails,
    2 for an invalid scenario, 3 when a component could not run, 130 when interrupted (faults
    are removed and data kept).
    """
    from harness.run import RunOptions, run_scenario
    from harness.run.progress import ProgressDisplay

    gate = _baseline_gate(baseline, tolerance_values)
    bind = _master_bind(master_bind, workers, remote_workers)
    display = None if quiet else ProgressDisplay()

    def progress(line: str) -> None:
        if display is not None:
            display.message(line)

    options = RunOptions(
        time_scale=time_scale,
        reports_dir=reports_dir,
        toxiproxy_url=toxiproxy_url,
        workers=workers,
        remote_workers=remote_workers,
        master_bind=bind,
        remote_timeout_s=remote_timeout,
        progress=progress,
        on_run_dir=display.attach if display is not None else lambda path, scenario: None,
    )
    try:
        result = run_scenario(scenario, options)
    except BrownoutError as exc:
        _fail(exc)
    finally:
        if display is not None:
            display.close()
    progress(f"run directory: {result.run_dir}")
    if isinstance(result.error, ScenarioError) or not _has_data(result.run_dir):
        # Nothing ran (or nothing was measured): there is no report to write.
        if result.aborted:
            click.echo("brownout: run interrupted before any request was made", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _fail(result.error or InfrastructureError("the run produced no request records"))
    from harness.run.report_guard import ReportAbandoned, guard_report

    try:
        with guard_report(result.run_dir, progress) as guard:
            code = _analyse_and_report(
                result.run_dir, quiet=quiet, gate=gate, scenario_file=scenario
            )
    except ReportAbandoned:
        click.echo(
            f"brownout: report not written: interrupted twice; the data is kept, write the "
            f"report with: brownout report {result.run_dir}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if guard.interrupted:
        click.echo("brownout: interrupted; the report was finished first", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.aborted:
        click.echo("brownout: run interrupted; partial data and report kept", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.error is not None:
        # The verdict line above already said INVALID RUN; this is the reason, not a 2nd verdict.
        click.echo(f"brownout: {result.error}", err=True)
        sys.exit(result.error.exit_code)
    sys.exit(code)


def _master_bind(text: str | None, workers: int, remote_workers: int) -> tuple[str, int] | None:
    """--master-bind as (host, port); None lets a local-only run pick a free loopback port."""
    from harness.commands.worker import DEFAULT_PORT, parse_master

    if workers == 0 and remote_workers == 0:
        _fail(UsageError("--workers 0 needs --remote-workers K: someone must send the load"))
    if text is None:
        return ("127.0.0.1", DEFAULT_PORT) if remote_workers else None
    try:
        return parse_master(text)
    except UsageError as exc:
        _fail(UsageError(str(exc).replace("--master", "--master-bind", 1)))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--baseline",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Compare against this stored run, as `brownout run --baseline` does.",
)
@click.option("--tolerance", "tolerance_values", multiple=True, metavar="FRACTION|METRIC=FRACTION")
def report(run_dir: Path, baseline: Path | None, tolerance_values: tuple[str, ...]) -> None:
    """Re-analyse RUN_DIR and re-render its reports from its files alone."""
    if not (run_dir / "events.jsonl").exists():
        _fail(UsageError(f"{run_dir} is not a brownout run directory (no events.jsonl)"))
    gate = _baseline_gate(baseline, tolerance_values)
    scenario_file = _recorded_scenario_file(run_dir)
    sys.exit(_analyse_and_report(run_dir, quiet=False, gate=gate, scenario_file=scenario_file))


def _recorded_scenario_file(run_dir: Path) -> Path | None:
    """The scenario file run.json names, when it still exists (GitHub annotations point at it)."""
    try:
        recorded = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = recorded.get("scenario_file") if isinstance(recorded, dict) else None
    path = Path(name) if isinstance(name, str) and name else None
    return path if path is not None and path.is_file() else None


def _has_data(run_dir: Path) -> bool:
    # Locust workers write requests.w<i>.jsonl (the master writes a remote worker's).
    return any(path.stat().st_size > 0 for path in run_dir.glob("requests*.jsonl"))


@dataclass(frozen=True)
class _Gate:
    """``--baseline``: the stored run's summary, read before the run starts."""

    baseline: Summary
    tolerance: float
    tolerances: dict[str, float]


def _baseline_gate(baseline: Path | None, tolerance_values: tuple[str, ...]) -> _Gate | None:
    from harness.commands.common import parse_tolerances
    from harness.report.compare import DEFAULT_TOLERANCE
    from harness.report.render import read_baseline

    try:
        default, per_metric = parse_tolerances(tolerance_values)
        if baseline is None:
            if tolerance_values:
                raise UsageError("--tolerance needs --baseline RUN_DIR")
            return None
        summary = read_baseline(baseline)
    except BrownoutError as exc:
        _fail(exc)
    return _Gate(summary, DEFAULT_TOLERANCE if default is None else default, per_metric)


def _analyse_and_report(
    run_dir: Path,
    *,
    quiet: bool,
    gate: _Gate | None = None,
    scenario_file: Path | None = None,
) -> int:
    """Analyse, render, print the one verdict line; the exit code: 0 passed, 1 an SLO failed
    or a regression, 3 the run is invalid (never PASSED, whatever its SLOs say)."""
    from harness.analysis import analyze_run
    from harness.analysis.stage_times import stage
    from harness.commands.common import describe_delta
    from harness.report import compare_summaries, render_report
    from harness.report.github import publish_to_github

    comparison = None
    try:
        summary = analyze_run(run_dir)
        if gate is None:
            with stage("render"):
                paths = render_report(run_dir, summary)
        else:
            paths = render_report(
                run_dir,
                summary,
                baseline=gate.baseline,
                tolerance=gate.tolerance,
                tolerances=gate.tolerances,
            )
            comparison = compare_summaries(
                summary, gate.baseline, tolerance=gate.tolerance, tolerances=gate.tolerances
            )
        annotations = publish_to_github(summary, run_dir, comparison, scenario_file=scenario_file)
    except BrownoutError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(InfrastructureError(f"could not write the reports: {exc}"))
    if not quiet:
        for phase in ("baseline", "fault", "recovery"):
            metrics = summary.phases.get(phase)
            if metrics is None:
                continue
            amp = metrics.retry_amplification
            err = metrics.error_rate
            click.echo(
                f"  {phase:<9} requests={metrics.requests or 0:<6} "
                f"error_rate={_fmt(err, '.1%')} amplification={_fmt(amp, '.2f')} "
                f"p95={_fmt(metrics.latency_p95_ms, '.0f', 'ms')}",
                err=True,
            )
        for slo in summary.slos:
            mark = "PASS" if slo.passed else "FAIL"
            click.echo(f"  [{mark}] {slo.name}: {slo.reason}", err=True)
        if comparison is not None:
            for delta in comparison.regressions:
                click.echo(f"  [REGRESSED] {describe_delta(delta)}", err=True)
    for line in annotations:
        click.echo(line)
    html = next((p for p in paths if p.suffix == ".html"), run_dir / "report.html")
    if not summary.valid:
        for problem in summary.validity_problems:
            click.echo(f"  [INVALID] {problem}", err=True)
        click.echo(f"brownout: INVALID RUN; report: {html}")
        return InfrastructureError.exit_code
    regressed = comparison is not None and bool(comparison.regressions)
    passed = bool(summary.passed) and not regressed
    verdict = "PASSED" if passed else "FAILED"
    if regressed and comparison is not None:
        count = len(comparison.regressions)
        verdict += f" ({count} regression{'s' if count != 1 else ''} against the baseline)"
    click.echo(f"brownout: {verdict}; report: {html}")
    return 0 if passed else 1


def _fmt(value: float | int | None, spec: str, unit: str = "") -> str:
    return "n/a" if value is None else format(value, spec) + unit


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("request_id", required=False)
def trace(run_dir: Path, request_id: str | None) -> None:
    """Print one request's trace (its provider calls and spans), or the run's worst requests."""
    from harness.report.trace_text import render_trace, traces_for

    found = traces_for(run_dir, request_id)
    if not found:
        what = f"no request {request_id!r}" if request_id else "no worst requests (no summary.json)"
        click.echo(f"brownout: {what} in {run_dir}", err=True)
        sys.exit(2)
    click.echo("\n\n".join(render_trace(t) for t in found))


@cli.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(scenarios: Sequence[Path]) -> None:
    """Check scenario files without running them; list every problem with file:line:col."""
    from harness.analysis.recovery import recovery_phase_warning
    from harness.scenario import load_scenario

    problems: list[str] = []
    for path in scenarios:
        try:
            loaded = load_scenario(path)
            click.echo(f"{path}: ok")
            if (warning := recovery_phase_warning(loaded)) is not None:
                click.echo(f"{path}: warning: {warning}", err=True)
        except ScenarioError as exc:
            problems.extend(exc.problems)
    if problems:
        _fail(ScenarioError(problems))


@cli.command()
def schema() -> None:
    """Print the scenario format as JSON Schema (for editors and CI linters).

    Durations accept the strings brownout accepts (20s, 1m30s); fault types are an enum.
    """
    from harness.scenario.schema import scenario_json_schema

    click.echo(json.dumps(scenario_json_schema(), indent=2))


_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@cli.command(context_settings=_PASSTHROUGH, add_help_option=False)
@click.pass_context
def toxiproxy(ctx: click.Context) -> None:
    """Run the embedded Toxiproxy-compatible server (flags as toxiproxy-server: -host, -port,
    -config). It binds 127.0.0.1 by default."""
    from harness.faultproxy import main as faultproxy_main

    sys.exit(faultproxy_main(list(ctx.args)))


@cli.command(context_settings=_PASSTHROUGH, add_help_option=False)
@click.pass_context
def mock(ctx: click.Context) -> None:
    """Run a mock provider: 'brownout mock openai --port 0' (see 'brownout mock --help')."""
    # mock_providers is a program of its own (it does not import harness, nor harness it):
    # replace this process with it, so signals and exit codes are its own.
    argv = [sys.executable, "-m", "mock_providers", *ctx.args]
    if not ctx.args or any(arg in ("-h", "--help") for arg in ctx.args):
        # Its help names itself "python -m mock_providers"; users typed "brownout mock".
        shown = subprocess.run(argv, capture_output=True, text=True, check=False)
        click.echo(_renamed(shown.stdout), nl=False)
        click.echo(_renamed(shown.stderr), nl=False, err=True)
        sys.exit(shown.returncode)

    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def _renamed(text: str, old: str = "python -m mock_providers", new: str = "brownout mock") -> str:
    """argparse output with its program name replaced, usage continuation lines realigned."""
    indent = len("usage: ")
    text = text.replace("\n" + " " * (indent + len(old)), "\n" + " " * (indent + len(new)))
    return text.replace(old, new)


cli.add_command(compare_command)
cli.add_command(faults_command)
cli.add_command(init_command)
cli.add_command(cleanup_command)
cli.add_command(stop_command)
cli.add_command(worker_command)


def main(argv: Sequence[str] | None = None) -> None:
    from harness.errors import as_brownout_error

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="brownout")
    except KeyboardInterrupt:
        click.echo("brownout: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last line of defence: a message and an exit code, no trace
        _fail(as_brownout_error(exc))
