"""The brownout exception tree; each class owns the process exit code it maps to.

    BrownoutError                 exit 3 unless a subclass says otherwise
    ├── UsageError                exit 2: bad command-line arguments
    ├── ScenarioError             exit 2: the scenario file is invalid (carries every problem)
    ├── InfrastructureError       exit 3: a port, a process, a dependency failed
    │   ├── ComponentStartError   a child process died or never became ready
    │   └── FaultInjectionError   a fault could not be applied or removed
    └── SLOFailed                 exit 1: the run completed and at least one SLO did not hold

The CLI catches ``BrownoutError`` and exits with ``exit_code``; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BrownoutError",
    "ComponentStartError",
    "FaultInjectionError",
    "InfrastructureError",
    "SLOFailed",
    "ScenarioError",
    "UsageError",
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
