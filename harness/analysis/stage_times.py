"""Where an analysis spends its time: wall and CPU seconds per stage, on request.

``benchmarks/bench_analysis.py`` times ``brownout report`` as a user runs it, in a subprocess,
and needs to say which stage (load, join, metrics, resilience, traces, cost, render…) the time
went to. Setting ``BROWNOUT_STAGE_TIMES=FILE`` makes every ``stage(...)`` block append one JSON
line ``{"stage", "wall_s", "cpu_s"}`` to FILE; without it a stage costs one dict lookup. Times
are exclusive: a stage nested in another is not counted again in its parent.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["STAGE_TIMES_ENV", "stage"]

STAGE_TIMES_ENV: Final = "BROWNOUT_STAGE_TIMES"

#: Per open stage: [wall, cpu] seconds spent in the stages nested inside it.
_open: list[list[float]] = []


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` when ``BROWNOUT_STAGE_TIMES`` names a file."""
    path = os.environ.get(STAGE_TIMES_ENV)
    if not path:
        yield
        return
    nested = [0.0, 0.0]
    _open.append(nested)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _open.pop()
        if _open:
            _open[-1][0] += wall
            _open[-1][1] += cpu
        row = {"stage": name, "wall_s": wall - nested[0], "cpu_s": cpu - nested[1]}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
