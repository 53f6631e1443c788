"""The brownout exception tree; each class owns the process exit code it maps to.

    BrownoutError                 exit 3 unless a subclass says otherwise
    ├── UsageError                exit 2: bad command-line arguments
    ├── ScenarioError             exit 2: the scenario file is invalid (carries every problem)
    ├── InfrastructureError       exit 3: a port, a process, a dependency failed
    │   ├── ComponentStartError   a child process died or never became ready
    │   └── FaultInjectionError   a fault could not be applied or removed
    └── SLOFailed                 exit 1: the run completed and at least one SLO did not hold

The CLI catches ``BrownoutError`` and exits with ``exit_code``. Library errors that are
``BrownoutError`` subclasses by construction: ``harness.toxiproxy.ToxiproxyError``
(an ``InfrastructureError``) and ``harness.load.LoadConfigError`` (a ``UsageError``). Anything
else that reaches the CLI goes through ``as_brownout_error``: an ``OSError`` is infrastructure
(a full disk, a permission), ``MemoryError``/``RecursionError`` are reported as what they are,
and any other exception is an internal error whose traceback is saved to a file named in the
message, so the user sees one line and a bug report still has everything.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from typing import ClassVar

__all__ = [
    "BrownoutError",
    "ComponentStartError",
    "FaultInjectionError",
    "InfrastructureError",
    "InternalError",
    "SLOFailed",
    "ScenarioError",
    "UsageError",
    "as_brownout_error",
]


class BrownoutError(Exception):
    """Root of every error brownout reports to the user without a traceback."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(BrownoutError):
    exit_code: ClassVar[int] = 2


class ScenarioError(BrownoutError):
    """An invalid scenario; ``problems`` holds every ``file:line:col: path: message`` line."""

    exit_code: ClassVar[int] = 2

    def __init__(self, problems: list[str]) -> None:
        count = len(problems)
        header = f"invalid scenario: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([header, *problems]))
        self.problems = problems


class InfrastructureError(BrownoutError):
    exit_code: ClassVar[int] = 3


class ComponentStartError(InfrastructureError):
    pass


class FaultInjectionError(InfrastructureError):
    pass


class SLOFailed(BrownoutError):
    exit_code: ClassVar[int] = 1


class InternalError(BrownoutError):
    """A bug in brownout: something no check anticipated. Exit 3, traceback in a file."""


def as_brownout_error(exc: BaseException) -> BrownoutError:
    """The ``BrownoutError`` to report for ``exc``; never raises."""
    if isinstance(exc, BrownoutError):
        return exc
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return InfrastructureError(f"{exc.strerror or exc}{where}")
    if isinstance(exc, MemoryError):
        return InfrastructureError("out of memory")
    saved = _save_traceback(exc)
    return InternalError(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in brownout, please "
        f"report it with the traceback saved in {saved}"
    )


def _save_traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        fd, path = tempfile.mkstemp(prefix="brownout-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError:
        return "(could not be saved)"
    return path
