"""How late the mock's event loop wakes: the mock's own saturation signal.

A mock whose process is out of CPU (or whose loop is blocked) answers every call late, and the
delay shows up as the provider's latency in the report. CPU share alone misses it on a starved
machine (a process can be runnable and not running), so each mock process also measures the
wake-up delay of a short sleep, ten times a second, and exports the worst of the last second as
``brownout_mock_loop_lag_seconds``; the orchestrator scrapes it and flags the run.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

__all__ = ["LoopLag"]

TICK_S = 0.1
WINDOW = 10  # ticks: the last second


class LoopLag:
    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=WINDOW)

    @property
    def worst_s(self) -> float:
        """The worst wake-up delay of the last second (0 before the first tick)."""
        return max(self._recent, default=0.0)

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self._recent.append(max(0.0, time.perf_counter() - start - TICK_S))
