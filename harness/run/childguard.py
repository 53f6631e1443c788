"""The watchdog between the orchestrator and each process it starts; run as a script by path.

    python -S childguard.py PARENT_PID -- PROGRAM ARG...

Every child of a run (mock providers, the fault proxy, the SUT, Locust) is started through this
guard, in its own process group. A SIGKILLed orchestrator cannot clean up, so the guard does:
it asks the kernel for a signal when its parent dies (``PR_SET_PDEATHSIG``, Linux) and also polls
its parent pid (every platform, and the case where the parent died before ``prctl`` ran). When
the orchestrator is gone it sends SIGTERM to its process group (the program and anything the
program started), then SIGKILL after a grace period; load stops within about a second.

When the program exits on its own, the guard also ends the rest of the group, so nothing a
component started outlives it, then exits with the program's status (dying of the same signal
when the program did), so the orchestrator sees the program's own exit code.

It is a script, not a module of the package, so that it starts in milliseconds with nothing
but the standard library; it imports nothing from harness.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

POLL_S = 0.2
GRACE_S = 5.0
#: Delivered by the kernel when the orchestrator (strictly: the thread that forked us) dies.
_DEATH_SIGNAL = signal.SIGUSR2


def _ask_for_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(_DEATH_SIGNAL), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # the poll below still notices, a little later


def _end_group(grace_s: float, program: subprocess.Popen[bytes]) -> None:
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if program.poll() is not None and not _group_has_others(group):
            return
        time.sleep(0.05)
    os.killpg(group, signal.SIGKILL)  # ends this guard too


def _group_has_others(group: int) -> bool:
    """Whether a process other than this guard is still in ``group`` (Linux /proc)."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as file:
                fields = file.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp; a zombie no longer holds anything.
        if int(fields[2]) == group and fields[0] != b"Z":
            return True
    return False


def _exit_like(code: int) -> None:
    if code < 0:
        # SIGKILL and SIGSTOP have no handler to reset.
        with contextlib.suppress(OSError, ValueError):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1)
        sys.exit(128 - code)
    sys.exit(code)


def _say(line: str) -> None:
    # Our stdout is the orchestrator's log pipe; with the orchestrator dead nobody reads it,
    # and a write would raise BrokenPipeError, killing the guard before it does its job.
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of our short life


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: childguard.py PARENT_PID -- PROGRAM [ARG...]", file=sys.stderr)
        sys.exit(2)
    parent = int(argv[0])
    program_argv = argv[2:]
    # The orchestrator holds stop signals off while it forks (so that no child exists
    # unrecorded) and a signal mask is inherited: clear it for us and for the program.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    _ask_for_death_signal()
    # Python-level handlers (not SIG_IGN), so the program starts with default dispositions.
    # SIGTERM/SIGINT/SIGHUP reach the whole group; the guard waits for the program to act.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, _DEATH_SIGNAL):
        signal.signal(sig, lambda signum, frame: None)
    if os.getppid() != parent:
        sys.exit(1)  # the orchestrator died before we got here: start nothing
    try:
        program = subprocess.Popen(program_argv)
    except OSError as exc:
        print(f"cannot start {program_argv[0]}: {exc}", file=sys.stderr, flush=True)
        sys.exit(127)
    while True:
        code = program.poll()
        if code is not None:
            _end_group(1.0, program)
            _exit_like(code)
        if os.getppid() != parent:
            _say("brownout orchestrator is gone: stopping")
            _end_group(GRACE_S, program)
            _exit_like(program.wait())
        time.sleep(POLL_S)


if __name__ == "__main__":
    main(sys.argv[1:])
