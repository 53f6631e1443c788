"""``brownout cleanup`` and ``brownout stop``: undo a dead run's leftovers, end a live run.

Both work from run directories' ledgers (harness.run.ledger), so they need nothing but the
files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.errors import BrownoutError, InfrastructureError, UsageError

__all__ = ["cleanup", "stop"]

_REPORTS = click.option(
    "--reports-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where to look for runs when RUN_DIR is not given.",
)


def _fail(error: BrownoutError) -> None:
    click.echo(f"brownout: {error}", err=True)
    sys.exit(error.exit_code)


@click.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@_REPORTS
def cleanup(run_dir: Path | None, reports_dir: Path) -> None:
    """Remove what a dead run left behind: processes, proxies and toxics (also on an external
    Toxiproxy), provider faults. Without RUN_DIR, every dead run under --reports-dir. A live run
    is left alone (use brownout stop). Exits 0 when nothing is left, 3 when something could
    not be removed."""
    from harness.run.leftovers import clean_run, find_runs

    if run_dir is not None:
        run_dirs = [run_dir]
    else:
        run_dirs = [path for path, state in find_runs(reports_dir) if not state.orchestrator_alive]
    failed: list[str] = []
    for path in run_dirs:
        try:
            report = clean_run(path)
        except BrownoutError as exc:
            _fail(exc)
            return
        for line in report.removed:
            click.echo(f"{path}: removed {line}")
        failed += [f"{path}: {line}" for line in report.failed]
        if not report.removed and not report.failed:
            click.echo(f"{path}: nothing left to clean up")
    if not run_dirs:
        click.echo(f"brownout: no dead run with leftovers under {reports_dir}")
    if failed:
        _fail(InfrastructureError("could not remove:\n" + "\n".join(failed)))


@click.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False, path_type=Path))
@_REPORTS
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds to wait for the run to finish its clean-up.",
)
def stop(run_dir: Path | None, reports_dir: Path, timeout_s: float) -> None:
    """Stop a running run from another terminal, with the same clean-up as Ctrl-C (load stops,
    faults are removed, processes end; the data and a report are kept). Without RUN_DIR, every
    live run under --reports-dir."""
    from harness.run.leftovers import find_runs, stop_run

    if run_dir is not None:
        run_dirs = [run_dir]
    else:
        run_dirs = [path for path, state in find_runs(reports_dir) if state.orchestrator_alive]
        if not run_dirs:
            _fail(UsageError(f"no live run under {reports_dir}"))
    for path in run_dirs:
        try:
            stopped = stop_run(path, timeout_s=timeout_s)
        except BrownoutError as exc:
            _fail(exc)
            return
        if not stopped:
            _fail(InfrastructureError(f"{path}: the run did not stop within {timeout_s:g}s"))
        click.echo(f"{path}: stopped")
