"""Starts, watches and stops the run's child processes.

Each child runs in its own session (process group), so the terminal's Ctrl-C reaches only the
orchestrator, which then stops children in a known order and removes faults first. A child
announces readiness with one stdout line ``BROWNOUT_READY <url>``; everything it prints goes to
``logs/<name>.log`` in the run directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.errors import ComponentStartError
from harness.run.events import EventLog

__all__ = ["READY_PREFIX", "Child", "Supervisor", "wait_http_ok"]

READY_PREFIX = "BROWNOUT_READY "


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
    def __init__(self, log_dir: Path, events: EventLog) -> None:
        self.log_dir = log_dir
        self.events = events
        self.children: list[Child] = []
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
        try:
            process = subprocess.Popen(
                list(argv),
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
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip()
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
        """SIGTERM the child's process group, then SIGKILL after ``timeout_s``."""
        if child.alive():
            _signal_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait(5)
        code = child.process.returncode
        if child._pump is not None:
            child._pump.join(timeout=5)  # the log is complete once the pump saw EOF
        if child in self.children:
            self.children.remove(child)
            self.events.emit("process_exited", name=child.name, pid=child.pid, returncode=code)
        return code

    def stop_all(self) -> None:
        """Stop every child, last started first (load before SUT before providers)."""
        for child in reversed(list(self.children)):
            self.stop(child)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        process.send_signal(sig)


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
