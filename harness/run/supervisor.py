"""Starts, watches and stops the run's child processes.

Each child runs in its own session (process group), so the terminal's Ctrl-C reaches only the
orchestrator, which then stops children in a known order and removes faults first. A child
announces readiness with one stdout line ``BROWNOUT_READY <url>``; everything it prints goes to
``logs/<name>.log`` in the run directory.

Every child is started through ``childguard.py``, which ends the child's whole process group
when the orchestrator dies (even by SIGKILL), and each start is written to the run's ledger
with signals held off between the fork and the record, so no child can exist unrecorded.
Stopping a child means stopping its process group: nothing it started survives it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from harness.errors import ComponentStartError
from harness.run.events import EventLog
from harness.run.ledger import Ledger, process_start_time
from harness.scenario import is_loopback_host

__all__ = [
    "GUARD",
    "READY_PREFIX",
    "STOP_SIGNALS",
    "Child",
    "Supervisor",
    "group_alive",
    "signals_held",
    "stop_group",
    "wait_http_ok",
]

READY_PREFIX = "BROWNOUT_READY "
GUARD = Path(__file__).resolve().with_name("childguard.py")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP off for a critical section (something created and not yet
    recorded); they arrive when it ends. A no-op off the main thread, where they never land."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_group(pgid: int, timeout_s: float) -> bool:
    """SIGTERM process group ``pgid``, SIGKILL it after ``timeout_s``; True once it is empty."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _group_exists(pgid):
                return True
            time.sleep(0.05)
    return not _group_exists(pgid)


def group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a live (non-zombie) member."""
    return _group_exists(pgid)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies (exited, not yet reaped by their parent) still count for killpg; they hold no
    # port and run no code, so a group of zombies only is gone for our purposes.
    return _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    url: str | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _tail: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    _pump: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self) -> str:
        """The child's last lines of output, for error messages."""
        return "\n".join(self._tail)


class Supervisor:
    def __init__(
        self,
        log_dir: Path,
        events: EventLog,
        *,
        ledger: Ledger | None = None,
        allow_non_loopback: bool = False,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.redact = redact
        self.log_dir = log_dir
        self.events = events
        self.ledger = ledger
        self.allow_non_loopback = allow_non_loopback
        self.children: list[Child] = []
        #: Set by a second stop signal: stops wait a second, not ten, before SIGKILL.
        self.hurry = threading.Event()
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        log_path = self.log_dir / f"{name}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # The guard execs the program, so a missing one would only show as an early exit:
        # say it here, as a start error, the way Popen itself would without the guard.
        program = argv[0] if argv else ""
        if "/" in program:
            found = os.access(Path(cwd or ".") / program, os.X_OK)
        else:
            found = shutil.which(program, path=full_env.get("PATH")) is not None
        if not found:
            raise ComponentStartError(
                f"could not start {name} ({program or 'an empty command'}): no such program"
            )
        guarded = [sys.executable, "-S", str(GUARD), str(os.getpid()), "--", *argv]
        with signals_held():
            try:
                process = subprocess.Popen(
                    guarded,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ComponentStartError(f"could not start {name} ({argv[0]}): {exc}") from None
            child = Child(name=name, process=process, log_path=log_path)
            self.children.append(child)
            if self.ledger is not None:
                self.ledger.record(
                    "process",
                    name=name,
                    pid=process.pid,
                    pgid=process.pid,
                    start=process_start_time(process.pid),
                )
        self.events.emit("process_started", name=name, pid=process.pid, argv=list(argv))
        child._pump = threading.Thread(
            target=self._pump, args=(child,), name=f"log-{name}", daemon=True
        )
        child._pump.start()
        return child

    def _pump(self, child: Child) -> None:
        # Copy the child's output to its log and watch for the ready line; runs until EOF.
        assert child.process.stdout is not None
        with child.log_path.open("ab") as log:
            for raw in child.process.stdout:
                line = raw.decode("utf-8", "replace")
                if self.redact is not None:  # a child that prints its secrets: not to disk
                    line = self.redact(line)
                    raw = line.encode("utf-8")
                log.write(raw)
                log.flush()
                line = line.rstrip()
                child._tail.append(line)
                if not child._ready.is_set() and line.startswith(READY_PREFIX):
                    child.url = line[len(READY_PREFIX) :].strip()
                    child._ready.set()
        child.process.stdout.close()
        child._ready.set()  # EOF: wake any waiter; it sees the child is gone

    def wait_ready(self, child: Child, timeout_s: float) -> str:
        """Block until ``child`` printed its ready line; return its URL."""
        if not child._ready.wait(timeout_s) or child.url is None:
            self._fail(child, f"did not report ready within {timeout_s:g}s")
        assert child.url is not None
        try:
            parts = urlsplit(child.url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            host, port = "", None
        if not host or not (self.allow_non_loopback or is_loopback_host(host)):
            raise ComponentStartError(
                f"{child.name} reported {child.url!r}, which is not a loopback http:// URL; "
                "brownout sends nothing there unless the scenario sets allow_non_loopback: true"
            )
        if self.ledger is not None and port is not None:
            self.ledger.record("port", name=child.name, pid=child.pid, host=host, port=port)
        self.events.emit("component_ready", name=child.name, url=child.url)
        return child.url

    def _fail(self, child: Child, what: str) -> None:
        try:  # output ended: the child is exiting; give it a moment to be reaped
            code = child.process.wait(2) if child._ready.is_set() else child.process.poll()
        except subprocess.TimeoutExpired:
            code = None
        state = f"exited with code {code}" if code is not None else what
        raise ComponentStartError(
            f"{child.name} {state}; its last output ({child.log_path}):\n{child.tail()}"
        )

    def check_alive(self) -> Child | None:
        """The first child that exited on its own, if any."""
        for child in self.children:
            if not child.alive():
                return child
        return None

    def stop(self, child: Child, timeout_s: float = 10.0) -> int | None:
        """SIGTERM the child's process group, then SIGKILL after ``timeout_s`` (1 s once a
        second stop signal asked to hurry). The group is signalled even when the child itself
        has exited, so whatever it started goes too."""
        if self.hurry.is_set():
            timeout_s = min(timeout_s, 1.0)
        emptied = stop_group(child.pid, timeout_s)
        try:
            child.process.wait(5)
        except subprocess.TimeoutExpired:
            emptied = False
        if not emptied:
            raise ComponentStartError(
                f"{child.name} (process group {child.pid}) did not stop, even on SIGKILL"
            )
        code = child.process.returncode
        if child._pump is not None:
            child._pump.join(timeout=5)  # the log is complete once the pump saw EOF
        if child in self.children:
            self.children.remove(child)
            self.events.emit("process_exited", name=child.name, pid=child.pid, returncode=code)
        if self.ledger is not None:
            self.ledger.record("process_gone", name=child.name, pid=child.pid, returncode=code)
        return code

    def stop_all(self) -> list[str]:
        """Stop every child, last started first (load before SUT before providers); each is
        tried whatever happened to the one before. Returns what could not be stopped."""
        errors: list[str] = []
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as exc:  # one stuck child must not keep the others running
                errors.append(f"stopping {child.name}: {exc}")
        return errors


def wait_http_ok(url: str, timeout_s: float, *, child: Child | None = None) -> None:
    """Poll ``url`` until it answers 2xx; fail early if ``child`` dies meanwhile."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if child is not None and not child.alive():
                raise ComponentStartError(
                    f"{child.name} exited with code {child.process.returncode} before its health "
                    f"check passed; its last output ({child.log_path}):\n{child.tail()}"
                )
            try:
                response = client.get(url)
                if response.is_success:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
    raise ComponentStartError(f"health check {url} did not pass within {timeout_s:g}s ({last})")
