"""The run's stop signals: the first unwinds the run into its clean-up, later ones only hurry it.

A signal that arrives while a component is being started is recorded and raised only when the
run is armed, so nothing can be created without also being recorded in the ledger; once the
clean-up has begun no signal can interrupt it (faults are always removed).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from harness.run.supervisor import STOP_SIGNALS

__all__ = ["RunAborted", "StopSignals"]


class RunAborted(Exception):
    """A stop signal (or the hard time limit) arrived; unwinds the run like Ctrl-C does."""


class StopSignals:
    """SIGINT/SIGTERM/SIGHUP while a run is live: the first raises ``RunAborted`` in the main
    thread, every later one only sets ``hurry``. Handlers stay installed through the clean-up,
    which is what the second signal must not interrupt."""

    def __init__(self, hurry: threading.Event) -> None:
        self.hurry = hurry
        self.received: list[str] = []
        self._armed = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            current = signal.getsignal(sig)
            if sig == signal.SIGINT and current == signal.SIG_IGN:
                continue  # a background job of a shell script: Ctrl-C is not ours; SIGTERM is
            self._previous[sig] = current
            signal.signal(sig, self._handle)

    def arm(self) -> None:
        """From here a signal raises ``RunAborted``; one that came while setting up (recorded,
        nothing half-made) raises now."""
        if self.received:
            raise RunAborted(self.received[0])
        self._armed = True

    def disarm(self) -> None:
        """From here on no signal raises: the clean-up runs to its end."""
        self._armed = False

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self._armed:
            self._armed = False
            raise RunAborted(signal.Signals(signum).name)
        if len(self.received) > 1:
            self.hurry.set()
