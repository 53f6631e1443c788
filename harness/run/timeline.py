"""Applies the scenario's faults at their planned times and removes them when their windows end.

One thread walks a sorted list of actions. Each fault is recorded twice in ``events.jsonl``
(applied, removed) with the planned and the actual time, so analysis cuts phases on what really
happened. Whatever was applied is removed by ``remove_all`` on every exit path: the orchestrator
calls it in a ``finally``.

A fault that cannot be applied or removed (whatever the exception: a Toxiproxy 409 or 404 is a
``ToxiproxyError``, not a ``BrownoutError``) and an action taken more than
``TIMELINE_LAG_TOLERANCE_S`` after its plan are validity problems (``harness.run.validity``):
the run goes on, later faults still run, and the run is reported invalid. The thread body runs
under ``RunValidity.guard``, so nothing kills it silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import FaultInjectionError
from harness.run.events import EventLog
from harness.run.provider_control import ProviderControl
from harness.run.validity import TIMELINE_LAG_TOLERANCE_S, RunValidity
from harness.scenario import Fault, Scenario
from harness.toxiproxy import ToxiproxyClient

__all__ = ["FaultLayer", "FaultTimeline", "NetworkFaults", "ProviderFaults", "planned_phases"]


class FaultLayer(Protocol):
    def apply(self, fault: Fault) -> None: ...
    def remove(self, fault: Fault) -> None: ...


class ProviderFaults:
    """Provider faults go to the named mock's control API."""

    def __init__(self, controls: Mapping[str, ProviderControl]) -> None:
        self.controls = controls

    def apply(self, fault: Fault) -> None:
        self.controls[fault.target_name].set_fault(
            fault.name,
            fault.type,
            probability=fault.probability,
            params=dict(fault.params),
            schedule=fault.schedule(),
        )

    def remove(self, fault: Fault) -> None:
        self.controls[fault.target_name].clear_fault(fault.name)


class NetworkFaults:
    """Network faults are Toxiproxy toxics (or a disabled proxy, for ``down``)."""

    def __init__(self, client: ToxiproxyClient, proxy_names: Mapping[str, str]) -> None:
        self.client = client
        self.proxy_names = proxy_names

    def apply(self, fault: Fault) -> None:
        proxy = self.proxy_names[fault.target_name]
        if fault.type == "down":
            self.client.update_proxy(proxy, enabled=False)
            return
        self.client.add_toxic(
            proxy,
            fault.type,
            dict(fault.attributes),
            name=fault.name,
            stream=fault.stream,
            toxicity=fault.toxicity,
        )

    def remove(self, fault: Fault) -> None:
        proxy = self.proxy_names[fault.target_name]
        if fault.type == "down":
            self.client.update_proxy(proxy, enabled=True)
        else:
            self.client.remove_toxic(proxy, fault.name)


@dataclass(frozen=True)
class _Action:
    at_s: float
    apply: bool
    fault: Fault


def planned_phases(scenario: Scenario) -> list[tuple[float, str]]:
    """(offset from load start, phase name) in order; the fault phase spans all fault windows."""
    phases = [(0.0, "warmup"), (scenario.warmup_s, "baseline")]
    if scenario.faults:
        phases.append((min(f.at_s for f in scenario.faults), "fault"))
        phases.append((max(f.end_s for f in scenario.faults), "recovery"))
    return phases


class FaultTimeline:
    def __init__(
        self,
        scenario: Scenario,
        layers: Mapping[str, FaultLayer],
        events: EventLog,
        validity: RunValidity | None = None,
        *,
        lag_tolerance_s: float = TIMELINE_LAG_TOLERANCE_S,
    ) -> None:
        self.scenario = scenario
        self.layers = layers
        self.events = events
        self.validity = validity if validity is not None else RunValidity(events)
        self.lag_tolerance_s = lag_tolerance_s
        self.active: dict[str, Fault] = {}
        self.errors: list[Exception] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        actions = [_Action(f.at_s, True, f) for f in scenario.faults]
        actions += [_Action(f.end_s, False, f) for f in scenario.faults]
        # At equal times removals go first, so back-to-back windows never overlap.
        self._actions: Sequence[_Action] = sorted(actions, key=lambda a: (_tick(a.at_s), a.apply))

    def start(self, t0: float) -> None:
        """Run the timeline against wall-clock ``t0`` (the moment load started)."""
        body = self.validity.guard("timeline", lambda: self._run(t0))
        self._thread = threading.Thread(target=body, name="timeline", daemon=True)
        self._thread.start()

    def _run(self, t0: float) -> None:
        marks: list[tuple[float, str | _Action]] = [
            (at, name) for at, name in planned_phases(self.scenario)
        ]
        marks += [(a.at_s, a) for a in self._actions]

        # At one instant: removals, then the phase mark, then applications, so that "fault"
        # is marked before its first fault and "recovery" after the last removal.
        def order(mark: str | _Action) -> int:
            return 1 if isinstance(mark, str) else (2 if mark.apply else 0)

        marks.sort(key=lambda m: (_tick(m[0]), order(m[1])))
        for offset, mark in marks:
            if self._stop.wait(max(0.0, t0 + offset - time.time())):
                return
            late = time.time() - (t0 + offset)
            # Phase marks are bookkeeping (the analysis cuts phases on load and fault events);
            # a fault applied or removed late changes what the run tested.
            if not isinstance(mark, str) and late > self.lag_tolerance_s:
                what = mark.fault.name
                self.validity.invalidate(
                    "timeline",
                    f"the fault timeline fell behind its plan: {what!r} ran {late:.2f} s late "
                    f"(tolerance {self.lag_tolerance_s:g} s)",
                )
            if isinstance(mark, str):
                self.events.emit("phase", name=mark, planned_t=t0 + offset)
            elif mark.apply:
                self._apply(mark.fault, t0 + offset)
            else:
                self._remove(mark.fault, t0 + offset)

    def _apply(self, fault: Fault, planned_t: float) -> None:
        try:
            self.layers[fault.layer].apply(fault)
        except Exception as exc:  # any failure: the fault is not in effect, the run is invalid
            self.errors.append(exc)
            self.validity.invalidate("fault", f"fault {fault.name!r} could not be applied: {exc}")
            return
        with self._lock:
            self.active[fault.name] = fault
        self.events.emit("fault_applied", **_describe(fault), planned_t=planned_t)

    def _remove(self, fault: Fault, planned_t: float | None) -> Exception | None:
        with self._lock:
            if self.active.pop(fault.name, None) is None:
                return None
        try:
            self.layers[fault.layer].remove(fault)
        except Exception as exc:  # any failure: the fault may still be in effect
            self.errors.append(exc)
            self.validity.invalidate("fault", f"fault {fault.name!r} could not be removed: {exc}")
            return exc
        self.events.emit("fault_removed", **_describe(fault), planned_t=planned_t)
        return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                self.validity.invalidate("timeline", "the fault timeline did not stop within 10 s")

    def remove_all(self) -> None:
        """Stop the timeline and remove every fault still active; try them all, then report."""
        self.stop()
        failures: list[str] = []
        for fault in list(self.active.values()):
            error = self._remove(fault, None)
            if error is not None:
                failures.append(f"{fault.name}: {error}")
        if failures:
            raise FaultInjectionError("could not remove faults:\n" + "\n".join(failures))


def _describe(fault: Fault) -> dict[str, Any]:
    params = dict(fault.params) if fault.layer == "provider" else dict(fault.attributes)
    return {
        "fault": fault.name,
        "kind": fault.type,
        "target": fault.target,
        "probability": fault.probability if fault.layer == "provider" else fault.toxicity,
        "params": params,
    }


def _tick(offset_s: float) -> float:
    # Offsets are sums of authored durations (0.1 + 0.2 != 0.3): compare them to the microsecond.
    return round(offset_s, 6)
