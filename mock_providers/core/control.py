"""The control API under `/_brownout/`: health, faults (list, put, delete), stats, metrics.

The orchestrator drives faults through these endpoints while load runs; shapes and status codes
are the contract in docs/architecture.md. Control calls are never journalled. `metrics` is the
Prometheus text of the capacity model (in flight, queue depth, overload refusals), so the mock's
own queue can be charted beside the SUT's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mock_providers.core.capacity import Limiter
from mock_providers.core.faults import Fault, FaultSet, FaultSpecError, parse_fault
from mock_providers.core.models import Flavour

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
    limiter: Limiter
    # Runs after the fault set changed (the capacity in force may have).
    on_change: Callable[[], None] = lambda: None
    #: the provider's counters (with several workers: all of them added up)
    totals: Callable[[], Stats] | None = None
    #: (pid, worst event-loop wake-up delay of the last second) of each process
    lags: Callable[[], list[tuple[int, float]]] = lambda: []
    #: with several workers: each one's pid and calls answered (its share of the traffic)
    workers: Callable[[], list[dict[str, int]]] = lambda: []
    _registry: CollectorRegistry | None = field(default=None, init=False, repr=False)

    def all_stats(self) -> Stats:
        return self.totals() if self.totals is not None else self.stats

    def capacity_json(self) -> dict[str, Any]:
        limiter = self.limiter
        return {
            **limiter.spec.to_json(),
            "in_flight": limiter.in_flight,
            "queue_depth": limiter.queue_depth,
            "rejected": limiter.rejected,
        }

    def metrics_text(self) -> bytes:
        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_CapacityCollector(self))
        return generate_latest(self._registry)


class _CapacityCollector(Collector):
    """Reads the live counters at scrape time (nothing to update on the hot path)."""

    def __init__(self, state: ControlState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        s, limiter = self.state, self.state.limiter
        labels = ["provider", "name"]
        values = [s.flavour, s.name]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=labels)
            g.add_metric(values, value)
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=labels)
            c.add_metric(values, value)
            return c

        stats = s.all_stats()
        yield gauge("brownout_mock_in_flight", "calls being served", stats.in_flight)
        yield gauge("brownout_mock_serving", "calls holding a capacity slot", limiter.in_flight)
        yield gauge("brownout_mock_queue_depth", "calls waiting for a slot", limiter.queue_depth)
        limit = limiter.spec.max_concurrency
        yield gauge(
            "brownout_mock_max_concurrency",
            "calls served at once (-1: unlimited)",
            -1 if limit is None else limit,
        )
        yield counter("brownout_mock_calls", "calls answered", stats.calls)
        yield counter("brownout_mock_overloaded", "calls refused by a full queue", limiter.rejected)
        yield counter(
            "brownout_mock_queue_wait_seconds",
            "total time calls waited for a slot",
            limiter.queue_wait_s_total,
        )
        lag = GaugeMetricFamily(
            "brownout_mock_loop_lag_seconds",
            "worst event-loop wake-up delay of the last second, per process (saturation)",
            labels=[*labels, "pid"],
        )
        for pid, seconds in s.lags():
            lag.add_metric([*values, str(pid)], seconds)
        yield lag


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
        stats = {**state.all_stats().to_json(), "capacity": state.capacity_json()}
        workers = state.workers()
        if workers:
            stats["workers"] = workers
        return _json(200, stats)
    if sub == "/capacity":
        if method != "GET":
            return _error(405, "use GET (change it with a 'capacity' fault)")
        return _json(200, state.capacity_json())
    if sub == "/faults":
        if method == "GET":
            return _json(200, {"faults": [f.to_json() for f in state.faults]})
        if method == "DELETE":
            state.faults.clear()
            state.on_change()
            return 204, b""
        if method == "POST":
            fault_or_error = _parse(state, body)
            if isinstance(fault_or_error, tuple):
                return fault_or_error
            state.faults.put(fault_or_error)
            state.on_change()
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
                state.on_change()
                return 204, b""
            return _error(404, f"no fault {name!r}")
        return _error(405, "use GET or DELETE")
    return _error(404, f"unknown control path {path!r}")
