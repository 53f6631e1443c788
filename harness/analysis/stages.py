"""The load stages of a run, read from its ``load_stage`` events.

The load process writes one event as each stage of the scenario's ``stages`` begins; the report
draws them on its charts, so a latency rise can be told from a load step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.analysis.models import LoadStage

__all__ = ["load_stages"]


def load_stages(events: Iterable[Mapping[str, Any]]) -> list[LoadStage]:
    """Every well-formed ``load_stage`` event, in time order; malformed ones are skipped."""
    stages = []
    for event in events:
        if event.get("type") != "load_stage":
            continue
        t, index = _optional(event.get("t")), event.get("index")
        if t is None or not isinstance(index, int) or isinstance(index, bool):
            continue
        stages.append(
            LoadStage(
                t=t,
                index=index,
                users=_optional(event.get("users")),
                rate=_optional(event.get("rate")),
                ramp=event.get("ramp") is True,
                duration_s=_optional(event.get("duration_s")),
            )
        )
    return sorted(stages, key=lambda s: (s.t, s.index))


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _optional(value: object) -> float | None:
    if isinstance(value, int | float) and _number(value):
        return float(value)
    return None
