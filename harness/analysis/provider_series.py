"""The mock providers' own queue over time, for the report's backlog chart.

The orchestrator scrapes each mock's ``/_brownout/metrics`` into ``provider_metrics.jsonl``
(``harness.run.observers``); the queue that forms *at the provider* (calls waiting for one of
its ``max_concurrency`` slots) is the other half of a retry storm's picture, beside the SUT's
own queue. The file is small (a few samples per second), so it is read line by line.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final

from harness.analysis.models import TimeSeries

__all__ = ["PROVIDER_METRICS_FILE", "PROVIDER_QUEUE_GAUGE", "with_provider_queue"]

PROVIDER_METRICS_FILE: Final = "provider_metrics.jsonl"
#: The mock's gauge of calls waiting for a capacity slot.
PROVIDER_QUEUE_GAUGE: Final = "brownout_mock_queue_depth"


def with_provider_queue(series: TimeSeries, run_dir: Path) -> TimeSeries:
    """``series`` with ``provider_queue_depth``: per window, the deepest provider queue
    scraped in it (None: no scrape landed in the window, or the run has no mock metrics)."""
    path = run_dir / PROVIDER_METRICS_FILE
    if series.t0 is None or not series.t or not path.is_file():
        return series
    width = series.window_s
    position = {round(t / width): i for i, t in enumerate(series.t)}
    deepest: list[float | None] = [None] * len(series.t)
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if PROVIDER_QUEUE_GAUGE not in line or not line.endswith("\n"):
                continue
            try:
                row = json.loads(line)
                t, value = float(row["t"]), float(row["value"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line costs that line
            if row.get("name") != PROVIDER_QUEUE_GAUGE or not math.isfinite(value):
                continue
            i = position.get(math.floor((t - series.t0) / width))
            if i is not None:
                current = deepest[i]
                deepest[i] = value if current is None else max(current, value)
    return series.model_copy(update={"provider_queue_depth": deepest})
