"""Creates a run directory and keeps its ``run.json`` current.

``run.json`` is written at the start with ``complete: false`` and rewritten at the end, so a run
that died half way is recognisable as such by ``brownout report``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

import harness
from harness.scenario import Scenario

__all__ = ["RunDirectory", "new_run_id"]


def new_run_id(scenario_name: str, now: float | None = None) -> str:
    stamp = datetime.fromtimestamp(now or time.time(), tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{scenario_name}"


class RunDirectory:
    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.info: dict[str, Any] = {}
        #: Applied to everything written here (harness.redact): secrets never reach the disk.
        self.redact: Callable[[Any], Any] = lambda data: data

    @classmethod
    def create(cls, reports_dir: Path, scenario: Scenario) -> RunDirectory:
        run_id = new_run_id(scenario.name)
        path = reports_dir / run_id
        suffix = 1
        while path.exists():  # two runs in the same second
            suffix += 1
            path = reports_dir / f"{run_id}-{suffix}"
        path.mkdir(parents=True)
        return cls(path, path.name)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_scenario(self, scenario: Scenario) -> None:
        data = self.redact(scenario.to_yaml_data())
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        self.file("scenario.yaml").write_text(text, encoding="utf-8")

    def start(self, scenario: Scenario, *, time_scale: float, source: Path) -> None:
        self.info = {
            "brownout_version": harness.__version__,
            "run_id": self.run_id,
            "scenario": scenario.name,
            "scenario_file": str(source),
            "seed": scenario.seed,
            "time_scale": time_scale,
            "host": {
                "hostname": socket.gethostname(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                # The host's load when the run started (1-minute average), and at its end
                # (``load_avg_end``, written by the orchestrator): a report read later says
                # whether the machine was busy while the SUT was measured.
                "load_avg_start": _load_avg(),
            },
            "started_at": time.time(),
            "ended_at": None,
            "exit_status": None,
            "complete": False,
            "aborted": False,
            "components": {},
        }
        self._write()

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self._write()

    def _write(self) -> None:
        tmp = self.file("run.json.tmp")
        tmp.write_text(json.dumps(self.redact(self.info), indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.file("run.json"))


def _load_avg() -> float | None:
    """The 1-minute load average, or None where the OS does not offer one."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def host_load_avg() -> float | None:
    """The 1-minute load average now (for ``host.load_avg_end``)."""
    return _load_avg()
