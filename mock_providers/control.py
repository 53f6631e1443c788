"""The control API under `/_brownout/`: health, faults (list, put, delete) and stats.

The orchestrator drives faults through these endpoints while load runs; shapes and status codes
are the contract in docs/architecture.md. Control calls are never journalled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from mock_providers.faults import Fault, FaultSet, FaultSpecError, parse_fault
from mock_providers.models import Flavour

PREFIX = "/_brownout"


@dataclass
class Stats:
    """Counters for `GET /_brownout/stats`."""

    calls: int = 0
    in_flight: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "by_status": dict(self.by_status),
            "by_fault": dict(self.by_fault),
            "in_flight": self.in_flight,
        }


@dataclass
class ControlState:
    flavour: Flavour
    name: str
    seed: int
    faults: FaultSet
    stats: Stats
    drift_profiles: tuple[str, ...]


def _json(status: int, obj: Any) -> tuple[int, bytes]:
    return status, orjson.dumps(obj)


def _error(status: int, message: str) -> tuple[int, bytes]:
    return _json(status, {"error": message})


def _parse(state: ControlState, body: bytes) -> Fault | tuple[int, bytes]:
    """The fault a control request describes, or the 400 answer saying what is wrong."""
    try:
        spec = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"body is not valid JSON: {exc}")
    try:
        return parse_fault(
            spec, seed=state.seed, flavour=state.flavour, drift_profiles=state.drift_profiles
        )
    except FaultSpecError as exc:
        return _error(400, str(exc))


def handle_control(state: ControlState, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Answer one control request: (status, JSON body; empty for 204)."""
    sub = path[len(PREFIX) :].rstrip("/")
    if sub == "/health":
        if method != "GET":
            return _error(405, "use GET")
        return _json(200, {"status": "ok", "provider": state.flavour, "name": state.name})
    if sub == "/stats":
        if method != "GET":
            return _error(405, "use GET")
        return _json(200, state.stats.to_json())
    if sub == "/faults":
        if method == "GET":
            return _json(200, {"faults": [f.to_json() for f in state.faults]})
        if method == "DELETE":
            state.faults.clear()
            return 204, b""
        if method == "POST":
            fault_or_error = _parse(state, body)
            if isinstance(fault_or_error, tuple):
                return fault_or_error
            state.faults.put(fault_or_error)
            return _json(201, fault_or_error.to_json())
        return _error(405, "use GET, POST or DELETE")
    if sub == "/faults/validate" and method == "POST":
        # Lets the orchestrator check a scenario's faults before the run starts; adds nothing.
        fault_or_error = _parse(state, body)
        if isinstance(fault_or_error, tuple):
            return fault_or_error
        return _json(200, fault_or_error.to_json())
    if sub == "/faults/validate":
        # Dry run of POST /faults: lets an orchestrator reject a bad fault before load starts.
        if method != "POST":
            return _error(405, "use POST")
        try:
            parse_fault(
                orjson.loads(body),
                seed=state.seed,
                flavour=state.flavour,
                drift_profiles=state.drift_profiles,
            )
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body is not valid JSON: {exc}")
        except FaultSpecError as exc:
            return _error(400, str(exc))
        return _json(200, {"valid": True})
    if sub.startswith("/faults/"):
        name = sub[len("/faults/") :]
        if method == "GET":
            found = next((f for f in state.faults if f.name == name), None)
            return _json(200, found.to_json()) if found else _error(404, f"no fault {name!r}")
        if method == "DELETE":
            if state.faults.remove(name):
                return 204, b""
            return _error(404, f"no fault {name!r}")
        return _error(405, "use GET or DELETE")
    return _error(404, f"unknown control path {path!r}")
