"""Finite capacity: calls served at once, a waiting queue, overload answers and slowdown.

A real provider is a pool of accelerators: a few calls are served at once, the rest wait, and
past some queue length it refuses with its overload answer. Serving more calls at once also
makes each one slower. Without this a retry storm can never feed on itself (the loop behind
metastable failures), so the mock models it:

* `max_concurrency` calls are served at once (null: unlimited, the default); others wait in a
  FIFO queue of at most `queue` calls (null: unbounded); a call that finds the queue full gets
  the flavour's overload answer at once (OpenAI 503, or 429 with `overload_status: 429`;
  Anthropic 529 `overloaded_error`).
* The slowdown law, fixed when a call is admitted with `n` calls in service (itself included)
  out of `C = max_concurrency`: time to first token is multiplied by `1 + ttft_slowdown*(n-1)/C`
  and the time per output token by `1 + tokens_slowdown*(n-1)/C`. With the defaults (0) only
  the queue adds latency; `ttft_slowdown: 1` doubles the TTFT when every slot is busy.

The limits can change while calls are in flight (a `capacity` fault on the timeline): a lower
`max_concurrency` admits nothing until enough calls finish, a higher one admits waiters at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

from mock_providers.core.faults import (
    CAPACITY_PARAMS,
    OVERLOAD_STATUSES,
    FaultSpecError,
    check_overload_status,
    check_param,
)
from mock_providers.core.models import Flavour

__all__ = ["CapacitySpec", "Limiter", "parse_capacity"]


@dataclass(frozen=True)
class CapacitySpec:
    """A provider's capacity; every field is a `capacity` key (see the module docstring)."""

    max_concurrency: int | None = None
    queue: int | None = None
    overload_status: int | None = None
    ttft_slowdown: float = 0.0
    tokens_slowdown: float = 0.0
    rpm: int | None = None
    tpm: int | None = None

    @property
    def limited(self) -> bool:
        return self.max_concurrency is not None

    def merged(self, params: dict[str, Any], given: frozenset[str]) -> CapacitySpec:
        """This capacity with the `given` keys of `params` replacing it (a capacity fault)."""
        return replace(self, **{k: params[k] for k in given if k in _FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS}


_FIELDS = tuple(f.name for f in fields(CapacitySpec))


def parse_capacity(raw: Any, flavour: Flavour) -> CapacitySpec:
    """Validate a `capacity` object (the CLI's `--config` or the scenario's); raises
    `FaultSpecError` naming the bad key."""
    if raw is None:
        return CapacitySpec()
    if not isinstance(raw, dict):
        raise FaultSpecError("`capacity` must be an object")
    specs = {p.name: p for p in CAPACITY_PARAMS}
    unknown = sorted(set(raw) - set(specs))
    if unknown:
        raise FaultSpecError(f"unknown capacity keys: {', '.join(unknown)}; known: {_known()}")
    values = {k: check_param(specs[k], v, "capacity", f"capacity.{k}") for k, v in raw.items()}
    check_overload_status(values.get("overload_status"), flavour)
    return CapacitySpec(**values)


def _known() -> str:
    return ", ".join(p.name for p in CAPACITY_PARAMS)


class Limiter:
    """The concurrency cap and the waiting queue of one mock (one event loop)."""

    def __init__(self, spec: CapacitySpec, flavour: Flavour) -> None:
        self.baseline = spec
        self.spec = spec
        self.flavour = flavour
        self.in_flight = 0
        self.rejected = 0
        self.admitted = 0
        self.queue_wait_s_total = 0.0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def limited(self) -> bool:
        return self.spec.max_concurrency is not None

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def overload_status(self) -> int:
        return self.spec.overload_status or OVERLOAD_STATUSES[self.flavour][0]

    def configure(self, spec: CapacitySpec) -> None:
        """Switch to `spec` now (a capacity fault applied or removed); wakes waiters it admits."""
        self.spec = spec
        self._wake()

    def try_admit(self) -> bool | None:
        """True: admitted now; False: refused (queue full); None: must wait (`wait`)."""
        limit = self.spec.max_concurrency
        if limit is None or (self.in_flight < limit and not self._waiting):
            self.in_flight += 1
            self.admitted += 1
            return True
        queue = self.spec.queue
        if queue is not None and len(self._waiting) >= queue:
            self.rejected += 1
            return False
        return None

    async def wait(self, gone: asyncio.Event) -> bool:
        """Wait in the queue; True once admitted, False if the client hung up first."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        if gone.is_set():
            self._drop(future)
            return False
        watcher = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait((future, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not future.done():
                self._drop(future)
        if future.cancelled():
            return False
        self.admitted += 1
        return True

    def _drop(self, future: asyncio.Future[None]) -> None:
        future.cancel()
        with contextlib.suppress(ValueError):
            self._waiting.remove(future)

    def add_queue_wait(self, seconds: float) -> None:
        self.queue_wait_s_total += seconds

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        limit = self.spec.max_concurrency
        while self._waiting and (limit is None or self.in_flight < limit):
            future = self._waiting.popleft()
            if not future.done():
                self.in_flight += 1  # the slot is the waiter's from now on
                future.set_result(None)

    def slowdown(self) -> tuple[float, float]:
        """(TTFT factor, time-per-token factor) for a call admitted now (the slowdown law)."""
        spec = self.spec
        limit = spec.max_concurrency
        if limit is None or not (spec.ttft_slowdown or spec.tokens_slowdown):
            return 1.0, 1.0
        busy = max(0, self.in_flight - 1) / limit
        return 1.0 + spec.ttft_slowdown * busy, 1.0 + spec.tokens_slowdown * busy
