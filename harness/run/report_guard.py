"""Signals while the report is written: finish the report, or say exactly why there is none.

Analysis and rendering take seconds, and a run's report is what the user waited for: the first
SIGINT/SIGTERM/SIGHUP there lets the report finish (the command then exits 130 as interrupted);
a second one stops at once. Either way ``run.json`` says what happened to the report
(``report: pending | written | abandoned | failed``), so it never looks finished when it is not.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from harness.run.supervisor import STOP_SIGNALS

__all__ = ["ReportAbandoned", "ReportGuard", "guard_report", "mark_report"]


class ReportAbandoned(Exception):
    """A second stop signal arrived while the report was being written."""


@dataclass
class ReportGuard:
    signals: list[str] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return bool(self.signals)


def mark_report(run_dir: Path, status: str) -> None:
    """Record the report's fate in ``run.json`` (best effort: the report matters more)."""
    path = run_dir / "run.json"
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        info["report"] = status
        tmp = run_dir / "run.json.tmp"
        tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except (OSError, ValueError):
        pass


@contextmanager
def guard_report(run_dir: Path, say: Callable[[str], None]) -> Iterator[ReportGuard]:
    guard = ReportGuard()
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        guard.signals.append(signal.Signals(signum).name)
        if len(guard.signals) == 1:
            say("interrupted while writing the report: finishing it (signal again to stop now)")
            return
        raise ReportAbandoned()

    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            current = signal.getsignal(sig)
            if sig == signal.SIGINT and current == signal.SIG_IGN:
                continue
            previous[sig] = current
            signal.signal(sig, handle)
    mark_report(run_dir, "pending")
    try:
        yield guard
    except ReportAbandoned:
        mark_report(run_dir, "abandoned: interrupted twice while it was being written")
        raise
    except SystemExit as exc:  # the CLI reporting an error of the analysis
        mark_report(run_dir, f"failed: exit {exc.code}")
        raise
    except BaseException as exc:
        mark_report(run_dir, f"failed: {exc}")
        raise
    else:
        mark_report(run_dir, "written")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
