"""``ledger.jsonl``: everything a run created, written as it goes, so another process can undo it.

A run that is SIGKILLed, or whose machine lost power, cannot clean up after itself. Its ledger
can: one JSON object a line, flushed and fsynced as written, recording the orchestrator (pid and
process start time, so a reused pid is never mistaken for it), each child process group, each
proxy created on a Toxiproxy (embedded or external), each toxic and disabled proxy, and each
provider fault, and then each of them again when it is released. Things that the run is about to
create are written *before* the call that creates them, so a kill between the two leaves a
record of something that may exist rather than something that exists unrecorded.
``closed`` is the last line of a run that undid everything; ``brownout cleanup`` and the start
of the next ``brownout run`` look for ledgers without it (see harness.run.leftovers).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["LEDGER_FILE", "Ledger", "LedgerState", "process_start_time", "read_ledger"]

LEDGER_FILE = "ledger.jsonl"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot, Linux), or None if there is
    no such process or no way to know; with the pid it names one process for good."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            fields = file.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19].decode() if len(fields) > 19 else None


def same_process(pid: int, start: str | None) -> bool:
    """Whether ``pid`` is still the process that was recorded with ``start``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, someone else's: only the start time can tell
    if start is None:
        return True  # recorded where start times are unknown: the pid is all there is
    return process_start_time(pid) == start


class Ledger:
    """Appends records; thread-safe (the fault timeline writes from its own thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def record(self, op: str, **fields: Any) -> None:
        line = json.dumps({"t": time.time(), "op": op, **fields}, default=str)
        with self._lock:
            if self._file is None:
                return
            self._file.write(line + "\n")
            self._file.flush()
            with contextlib.suppress(OSError):
                os.fsync(self._file.fileno())

    def run_started(self) -> None:
        pid = os.getpid()
        self.record("run", pid=pid, start=process_start_time(pid), host=socket.gethostname())

    def close(self, status: str) -> None:
        self.record("closed", status=status)
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass
class LedgerState:
    """What a ledger says is still out there."""

    path: Path
    pid: int | None = None
    start: str | None = None
    host: str | None = None
    closed: bool = False
    processes: dict[int, dict[str, Any]] = field(default_factory=dict)
    proxies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    toxics: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    disabled: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    provider_faults: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def orchestrator_alive(self) -> bool:
        if self.pid is None or self.host not in (None, socket.gethostname()):
            return False
        return same_process(self.pid, self.start)

    @property
    def outstanding(self) -> bool:
        return bool(
            self.processes or self.proxies or self.toxics or self.disabled or self.provider_faults
        )


def read_ledger(run_dir: Path) -> LedgerState | None:
    """The state of ``run_dir``'s ledger, or None when it has none. A torn last line (the
    writer died mid-write) is ignored."""
    path = run_dir / LEDGER_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    state = LedgerState(path=path)
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            _apply(state, entry)
    return state


def _apply(state: LedgerState, entry: dict[str, Any]) -> None:
    op = entry.get("op")
    if op == "run":
        state.pid, state.start, state.host = entry.get("pid"), entry.get("start"), entry.get("host")
    elif op == "closed":
        state.closed = True
    elif op == "process":
        state.processes[int(entry["pid"])] = entry
    elif op == "process_gone":
        state.processes.pop(int(entry["pid"]), None)
    elif op == "port":
        state.ports.append(entry)
    elif op in ("proxy", "proxy_gone"):
        key = (str(entry["api"]), str(entry["name"]))
        _toggle(state.proxies, key, entry, op == "proxy")
    elif op in ("toxic", "toxic_gone"):
        key3 = (str(entry["api"]), str(entry["proxy"]), str(entry["name"]))
        if op == "toxic":
            state.toxics[key3] = entry
        else:
            state.toxics.pop(key3, None)
    elif op in ("proxy_disabled", "proxy_enabled"):
        key = (str(entry["api"]), str(entry["proxy"]))
        _toggle(state.disabled, key, entry, op == "proxy_disabled")
    elif op in ("provider_fault", "provider_fault_gone"):
        key = (str(entry["url"]), str(entry["name"]))
        _toggle(state.provider_faults, key, entry, op == "provider_fault")


def _toggle(
    table: dict[tuple[str, str], dict[str, Any]],
    key: tuple[str, str],
    entry: dict[str, Any],
    present: bool,
) -> None:
    if present:
        table[key] = entry
    else:
        table.pop(key, None)
