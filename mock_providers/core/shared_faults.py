"""The fault set of a mock with several workers: one set, kept in ``SharedState``.

A control call (``POST``/``DELETE /_brownout/faults``) reaches one worker, chosen by the kernel;
it writes the change to shared memory and bumps the generation. Every worker compares the
generation at the start of each request (one load) and rebuilds its local copy when it moved,
so a fault is active in all workers before the control call is answered. Each fault's counter
(``first``, ``every``), its seeded draws and its own ``rpm``/``tpm`` buckets are shared too:
the n-th matching call is the n-th across the provider, whichever worker served it.
"""

from __future__ import annotations

from collections.abc import Callable

from mock_providers.core.faults import Fault, FaultSet, parse_fault
from mock_providers.core.models import Flavour
from mock_providers.core.shared import SharedState, counter_draw
from mock_providers.core.shared_limits import SharedBucket

__all__ = ["SharedFaultSet"]


class SharedFaultSet(FaultSet):
    def __init__(
        self, state: SharedState, *, seed: int, flavour: Flavour, drift_profiles: tuple[str, ...]
    ) -> None:
        super().__init__()
        self._state = state
        self._seed = seed
        self._flavour: Flavour = flavour
        self._drift_profiles = drift_profiles
        self._generation = -1
        #: runs after the local copy changed (the capacity in force may have)
        self.on_sync: Callable[[], None] = lambda: None

    def sync(self) -> None:
        """Catch up with the shared set if another worker changed it."""
        if self._state.generation == self._generation:
            return
        generation, entries = self._state.faults()
        faults: dict[str, Fault] = {}
        for entry in entries:
            fault = parse_fault(
                entry["spec"],
                seed=self._seed,
                flavour=self._flavour,
                drift_profiles=self._drift_profiles,
            )
            fault.given = frozenset(entry["given"])
            fault.applied_at = float(entry["applied_at"])
            slot = int(entry["slot"])
            fault.shared_count = self._counter(slot, fault.name)
            fault.buckets = [
                (
                    unit,
                    SharedBucket(
                        bucket.limit, self._state, self._state.fault_bucket_offset(slot, i)
                    ),
                )
                for i, (unit, bucket) in enumerate(fault.buckets)
            ]
            faults[fault.name] = fault
        self._faults = faults
        self._generation = generation
        self.on_sync()

    def _counter(self, slot: int, name: str) -> Callable[[], tuple[int, float]]:
        state, seed = self._state, self._seed

        def count() -> tuple[int, float]:
            n = state.next_seen(slot)
            return n, counter_draw(seed, name, n)

        return count

    def put(self, fault: Fault) -> None:
        limits = [bucket.limit for _, bucket in fault.buckets]
        self._state.put_fault(fault.to_json(), sorted(fault.given), limits)
        self.sync()

    def remove(self, name: str) -> bool:
        removed = self._state.remove_fault(name)
        self.sync()
        return removed

    def clear(self) -> None:
        self._state.clear_faults()
        self.sync()
