"""The ``brownout`` command. Thin: it parses arguments, calls library functions and turns
``BrownoutError`` into a message and its exit code (0 pass, 1 SLO failed, 2 usage or invalid
scenario, 3 infrastructure, 130 interrupted)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

import harness
from harness.errors import BrownoutError, InfrastructureError, ScenarioError, UsageError

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
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict and the report path.")
def run(
    scenario: Path, time_scale: float, reports_dir: Path, toxiproxy_url: str | None, quiet: bool
) -> None:
    """Run SCENARIO (a YAML file), then analyse it and write the reports.

    Exits 0 when every SLO holds, 1 when one fails, 2 for an invalid scenario, 3 when a
    component could not run, 130 when interrupted (faults are removed and data kept).
    """
    from harness.run import RunOptions, run_scenario

    def progress(line: str) -> None:
        if not quiet:
            click.echo(f"brownout: {line}", err=True)

    options = RunOptions(
        time_scale=time_scale,
        reports_dir=reports_dir,
        toxiproxy_url=toxiproxy_url,
        progress=progress,
    )
    try:
        result = run_scenario(scenario, options)
    except BrownoutError as exc:
        _fail(exc)
    progress(f"run directory: {result.run_dir}")
    if isinstance(result.error, ScenarioError) or not _has_data(result.run_dir):
        # Nothing ran (or nothing was measured): there is no report to write.
        if result.aborted:
            click.echo("brownout: run interrupted before any request was made", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _fail(result.error or InfrastructureError("the run produced no request records"))
    passed = _analyse_and_report(result.run_dir, quiet=quiet)
    if result.aborted:
        click.echo("brownout: run interrupted; partial data and report kept", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.error is not None:
        _fail(result.error)
    sys.exit(0 if passed else 1)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
def report(run_dir: Path) -> None:
    """Re-analyse RUN_DIR and re-render its reports from its files alone."""
    if not (run_dir / "events.jsonl").exists():
        _fail(UsageError(f"{run_dir} is not a brownout run directory (no events.jsonl)"))
    passed = _analyse_and_report(run_dir, quiet=False)
    sys.exit(0 if passed else 1)


def _has_data(run_dir: Path) -> bool:
    requests = run_dir / "requests.jsonl"
    return requests.exists() and requests.stat().st_size > 0


def _analyse_and_report(run_dir: Path, *, quiet: bool) -> bool:
    from harness.analysis import analyze_run
    from harness.report import render_report

    try:
        summary = analyze_run(run_dir)
        paths = render_report(run_dir, summary)
    except BrownoutError as exc:
        _fail(exc)
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
                f"p95={_fmt(metrics.latency_p95_ms, '.0f')}ms",
                err=True,
            )
    for slo in summary.slos:
        mark = "PASS" if slo.passed else "FAIL"
        click.echo(f"  [{mark}] {slo.name}: {slo.reason}", err=True)
    verdict = "PASSED" if summary.passed else "FAILED"
    html = next((p for p in paths if p.suffix == ".html"), run_dir / "report.html")
    click.echo(f"brownout: {verdict}; report: {html}")
    return bool(summary.passed)


def _fmt(value: float | int | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


@cli.command()
@click.argument("scenarios", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(scenarios: Sequence[Path]) -> None:
    """Check scenario files without running them; list every problem with file:line:col."""
    from harness.scenario import load_scenario

    problems: list[str] = []
    for path in scenarios:
        try:
            load_scenario(path)
            click.echo(f"{path}: ok")
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
    """Run a mock provider: ``brownout mock openai --port 0`` (see ``brownout mock --help``)."""
    # mock_providers is a program of its own (it does not import harness, nor harness it):
    # replace this process with it, so signals and exit codes are its own.
    argv = [sys.executable, "-m", "mock_providers", *ctx.args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="brownout")
    except KeyboardInterrupt:
        click.echo("brownout: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
