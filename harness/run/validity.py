"""Run validity: everything that happened during a run that makes its numbers untrustworthy.

A release is gated on the verdict, so a run whose fault never applied, whose mock died, whose
timeline fell behind or whose load generator saturated must never read as PASSED. Every such
problem goes through one ``RunValidity``: it becomes a ``warning`` event with
``"invalidates": true`` (and a ``source``) in ``events.jsonl`` at once, so even a crashed
orchestrator leaves the evidence, and at the end ``record`` writes ``valid: false`` and
``validity_problems`` into ``run.json``. The analysis reads both (``harness.analysis.summary``).

Background threads (the fault timeline, the metric scraper) run their bodies through
``guard``: an exception that would have killed the thread silently becomes a validity problem
the orchestrator sees instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from harness.load.health import read_health, saturation
from harness.run.events import EventLog
from harness.run.provider_health import (
    loop_lag_saturation,
    provider_saturation,
    read_provider_health,
)

__all__ = ["TIMELINE_LAG_TOLERANCE_S", "RunValidity"]

#: A fault applied or removed later than this after its planned time invalidates the run: the
#: phases would no longer be the ones the scenario describes.
TIMELINE_LAG_TOLERANCE_S: Final = 1.0


class RunValidity:
    """Thread-safe record of the problems that invalidate one run."""

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self._lock = threading.Lock()
        self._problems: list[str] = []

    @property
    def problems(self) -> list[str]:
        with self._lock:
            return list(self._problems)

    @property
    def valid(self) -> bool:
        with self._lock:
            return not self._problems

    def invalidate(self, source: str, message: str) -> None:
        """Record one problem now: an event in events.jsonl and an entry for run.json."""
        with self._lock:
            if message in self._problems:
                return
            self._problems.append(message)
        self.events.emit("warning", message=message, invalidates=True, source=source)

    def guard(self, source: str, body: Callable[[], None]) -> Callable[[], None]:
        """``body`` wrapped so that any exception it raises is recorded, never lost."""

        def guarded() -> None:
            try:
                body()
            except BaseException as exc:  # a thread must not die silently, whatever killed it
                self.invalidate(source, f"{source} thread failed: {type(exc).__name__}: {exc}")

        return guarded

    def check_load_health(self, path: Path, start: float, stop: float) -> None:
        """A saturated load generator between ``start`` and ``stop`` invalidates the run."""
        if not path.is_file():
            return
        try:
            samples = [s for s in read_health(path) if start <= s.t < stop]
        except (ValueError, KeyError, TypeError) as exc:
            self.events.emit("warning", message=f"{path.name} is unreadable: {exc}")
            return
        verdict = saturation(samples)
        if verdict is not None:
            self.invalidate("load", verdict)

    def check_provider_health(
        self, health_path: Path, metrics_path: Path, start: float, stop: float
    ) -> None:
        """A mock process that saturated its core (CPU) or its event loop (wake-up lag)
        between ``start`` and ``stop`` invalidates the run: its latency is the mock's own."""
        problems: list[str] = []
        try:
            if health_path.is_file():
                samples = [s for s in read_provider_health(health_path) if start <= s.t < stop]
                problems += provider_saturation(samples)
            problems += loop_lag_saturation(metrics_path, start, stop)
        except (ValueError, KeyError, TypeError) as exc:
            self.events.emit("warning", message=f"mock provider health is unreadable: {exc}")
            return
        for problem in problems:
            self.invalidate("provider", problem)
