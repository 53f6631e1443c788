"""What the report's header says about how a run was made: the scenario's description, the
time scale, how the SUT was started, whether non-loopback targets were allowed, and how busy the
host was. A reader judging a verdict needs these (a p95 measured on a saturated machine, or at
a quarter of the timeline, reads differently), and they live in ``run.json`` and the resolved
``scenario.yaml`` of the run directory, not in ``summary.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RunFacts", "read_run_facts"]


@dataclass(frozen=True)
class RunFacts:
    description: str = ""
    time_scale: float | None = None
    #: the SUT command as brownout ran it (secrets already redacted in scenario.yaml), or its URL
    sut: str = ""
    allow_non_loopback: bool = False
    load_avg_start: float | None = None
    load_avg_end: float | None = None
    cpus: int | None = None

    @property
    def host_load(self) -> str:
        """'1.20 → 3.40 (2 CPUs)', or '' when the run recorded no load average."""
        if self.load_avg_start is None and self.load_avg_end is None:
            return ""
        ends = [
            f"{v:.2f}" if v is not None else "?" for v in (self.load_avg_start, self.load_avg_end)
        ]
        cpus = f" ({self.cpus} CPUs)" if self.cpus else ""
        return f"{ends[0]} → {ends[1]}{cpus}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def read_run_facts(run_dir: Path) -> RunFacts:
    """The header facts of ``run_dir``; anything missing (an old or broken run) is left blank."""
    info = _read_json(run_dir / "run.json")
    scenario = _read_yaml(run_dir / "scenario.yaml")
    sut = _mapping(scenario.get("sut"))
    command = sut.get("command")
    if isinstance(command, list):
        sut_text = " ".join(str(part) for part in command)
    elif command:
        sut_text = str(command)
    else:
        sut_text = f"running at {sut['url']}" if sut.get("url") else ""
    host = _mapping(info.get("host"))
    cpus = host.get("cpus")
    return RunFacts(
        description=str(scenario.get("description") or "").strip(),
        time_scale=_number(info.get("time_scale")),
        sut=sut_text,
        allow_non_loopback=bool(
            info.get("allow_non_loopback", scenario.get("allow_non_loopback", False))
        ),
        load_avg_start=_number(host.get("load_avg_start")),
        load_avg_end=_number(host.get("load_avg_end")),
        cpus=cpus if isinstance(cpus, int) else None,
    )
