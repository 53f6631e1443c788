"""Undoing what a dead run left behind, and stopping a live one: ``brownout cleanup`` / ``stop``.

Both read run directories' ledgers (harness.run.ledger). A run whose orchestrator is gone but
whose ledger is not closed left something: its process groups are stopped (only if the pid
still names the same process, by start time), its toxics and proxies are removed from the
Toxiproxy that holds them (an external one too), disabled proxies are re-enabled and provider
faults cleared while their mock still answers. Whatever a dead run's proxy or provider took
with it when it died is gone already; a 404 there is expected, unlike during a live run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.errors import UsageError
from harness.run.ledger import LEDGER_FILE, Ledger, LedgerState, read_ledger, same_process
from harness.run.supervisor import stop_group
from harness.toxiproxy import ToxiproxyClient, ToxiproxyError

__all__ = ["CleanupReport", "clean_dead_runs", "clean_run", "find_runs", "stop_run"]


@dataclass
class CleanupReport:
    run_dir: Path
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def find_runs(reports_dir: Path) -> Iterator[tuple[Path, LedgerState]]:
    """Run directories under ``reports_dir`` whose ledger is not closed."""
    try:
        ledgers = sorted(reports_dir.glob(f"*/{LEDGER_FILE}"))
    except OSError:
        return
    for path in ledgers:
        state = read_ledger(path.parent)
        if state is not None and not state.closed:
            yield path.parent, state


def clean_run(run_dir: Path) -> CleanupReport:
    """Remove what the dead run in ``run_dir`` left; UsageError if it is still running."""
    state = read_ledger(run_dir)
    if state is None:
        raise UsageError(f"{run_dir} has no {LEDGER_FILE}: not a brownout run directory")
    report = CleanupReport(run_dir)
    if state.closed:
        return report
    if state.orchestrator_alive:
        raise UsageError(
            f"the run in {run_dir} is still going (pid {state.pid}); "
            f"stop it with: brownout stop {run_dir}"
        )
    _clear_provider_faults(state, report)
    _clear_toxiproxy(state, report)
    for pid, entry in sorted(state.processes.items()):
        what = f"process group {pid} ({entry.get('name')})"
        if not same_process(pid, entry.get("start")) and not _group_alive(pid):
            continue
        if stop_group(pid, 5.0):
            report.removed.append(f"stopped {what}")
        else:
            report.failed.append(f"could not stop {what}")
    ledger = Ledger(state.path)
    if report.failed:
        ledger.record("cleanup_failed", problems=report.failed)
    else:
        ledger.close("cleaned up by brownout cleanup")
    return report


def clean_dead_runs(reports_dir: Path, say: Callable[[str], None]) -> list[CleanupReport]:
    """``clean_run`` for every dead, unclosed run under ``reports_dir``; never raises."""
    reports: list[CleanupReport] = []
    for run_dir, state in find_runs(reports_dir):
        if state.orchestrator_alive:
            continue
        try:
            report = clean_run(run_dir)
        except Exception as exc:  # a broken old run must not stop a new one
            say(f"could not clean up after {run_dir}: {exc}")
            continue
        for line in report.removed:
            say(f"left by {run_dir.name}: {line}")
        for line in report.failed:
            say(f"left by {run_dir.name}, NOT removed: {line}")
        reports.append(report)
    return reports


def stop_run(run_dir: Path, *, timeout_s: float = 60.0) -> bool:
    """SIGTERM the orchestrator of the live run in ``run_dir`` (the same clean-up as Ctrl-C)
    and wait for it to finish; True once its ledger is closed or it is gone."""
    state = read_ledger(run_dir)
    if state is None:
        raise UsageError(f"{run_dir} has no {LEDGER_FILE}: not a brownout run directory")
    if state.closed or not state.orchestrator_alive or state.pid is None:
        return True
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = read_ledger(run_dir)
        if now is None or now.closed or not now.orchestrator_alive:
            return True
        time.sleep(0.1)
    return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours to stop: a reused id
    return True


def _clear_provider_faults(state: LedgerState, report: CleanupReport) -> None:
    for (url, name), _ in state.provider_faults.items():
        try:
            with httpx.Client(base_url=url, timeout=2.0, trust_env=False) as client:
                response = client.delete(f"/_brownout/faults/{_quote(name)}")
        except httpx.HTTPError:
            continue  # the mock is gone, and its faults with it
        if response.status_code in (200, 204):
            report.removed.append(f"provider fault {name!r} at {url}")


def _clear_toxiproxy(state: LedgerState, report: CleanupReport) -> None:
    apis = {api for api, _ in state.proxies} | {api for api, _, _ in state.toxics}
    apis |= {api for api, _ in state.disabled}
    for api in sorted(apis):
        try:
            client = ToxiproxyClient(api, timeout_s=3.0)
        except ToxiproxyError as exc:
            report.failed.append(f"Toxiproxy at {api}: {exc}")
            continue
        with client:
            _clear_one_toxiproxy(client, api, state, report)


def _clear_one_toxiproxy(
    client: ToxiproxyClient, api: str, state: LedgerState, report: CleanupReport
) -> None:
    embedded = any(entry.get("embedded") for (a, _), entry in state.proxies.items() if a == api)
    try:
        existing = client.list_proxies()
    except ToxiproxyError as exc:
        if embedded and exc.status == 0:
            return  # the embedded proxy died with the run, and everything on it
        report.failed.append(f"Toxiproxy at {api} unreachable: {exc}")
        return
    for a, proxy, name in state.toxics:
        if a == api and proxy in existing and (a, proxy) not in state.proxies:
            _try(report, f"toxic {name!r} on {proxy!r} at {api}", client.remove_toxic, proxy, name)
    for a, proxy in state.disabled:
        if a == api and proxy in existing and (a, proxy) not in state.proxies:
            _try(report, f"re-enabled proxy {proxy!r} at {api}", _enable, client, proxy)
    for a, proxy in state.proxies:
        if a == api and proxy in existing:
            _try(report, f"proxy {proxy!r} (and its toxics) at {api}", client.delete_proxy, proxy)


def _enable(client: ToxiproxyClient, proxy: str) -> None:
    client.update_proxy(proxy, enabled=True)


def _try(report: CleanupReport, what: str, action: Callable[..., object], *args: object) -> None:
    try:
        action(*args)
    except ToxiproxyError as exc:
        if exc.status != 404:
            report.failed.append(f"{what}: {exc}")
        return
    report.removed.append(what)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
