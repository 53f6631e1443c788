"""What the provider calls cost: a price per model, cost per phase, per success, wasted.

A retry storm is also a bill: tokens in and out are priced per model (USD per million tokens,
the providers' published list prices; the scenario's ``prices:`` overrides or adds models), so a
token-cost explosion is a number an SLO can bound (``cost_usd``, ``cost_per_success_usd``,
``wasted_cost_usd``) and a line on a chart.

Only calls the provider answered with 2xx are billed (providers do not bill a 429 or a 500);
a stream cut short is billed for what it sent. Wasted cost is the cost of billed calls that
served no successful user request (the ``wasted_tokens`` definition of ``metrics``). A model
with no price counts as 0 USD and is named in ``unpriced_models``, so the total is then a floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.loading import RunData
from harness.analysis.metrics import MAX_SERIES_WINDOWS, PreparedRun
from harness.analysis.phases import PHASE_ORDER, REPORTED_PHASES
from harness.analysis.verdict_models import CostSummary, ModelPrice

__all__ = ["COST_METRICS", "DEFAULT_PRICES", "PhaseCost", "compute_cost", "price_for"]

COST_METRICS: Final = ("cost_usd", "cost_per_success_usd", "wasted_cost_usd")

#: USD per million tokens (input, output, cached input), list prices as the providers publish
#: them. Matched by exact name first, then by the longest prefix (so dated snapshots such as
#: ``gpt-4o-mini-2024-07-18`` take their family's price).
DEFAULT_PRICES: Final[Mapping[str, ModelPrice]] = {
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cached=0.075),
    "gpt-4o": ModelPrice(input=2.50, output=10.00, cached=1.25),
    "gpt-4.1-nano": ModelPrice(input=0.10, output=0.40, cached=0.025),
    "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cached=0.10),
    "gpt-4.1": ModelPrice(input=2.00, output=8.00, cached=0.50),
    "gpt-4-turbo": ModelPrice(input=10.00, output=30.00),
    "gpt-3.5-turbo": ModelPrice(input=0.50, output=1.50),
    "o1-mini": ModelPrice(input=1.10, output=4.40, cached=0.55),
    "o1": ModelPrice(input=15.00, output=60.00, cached=7.50),
    "o3-mini": ModelPrice(input=1.10, output=4.40, cached=0.55),
    "o4-mini": ModelPrice(input=1.10, output=4.40, cached=0.275),
    "text-embedding-3-small": ModelPrice(input=0.02, output=0.0),
    "text-embedding-3-large": ModelPrice(input=0.13, output=0.0),
    "text-embedding-ada-002": ModelPrice(input=0.10, output=0.0),
    "claude-3-5-haiku": ModelPrice(input=0.80, output=4.00, cached=0.08),
    "claude-3-haiku": ModelPrice(input=0.25, output=1.25, cached=0.03),
    "claude-3-5-sonnet": ModelPrice(input=3.00, output=15.00, cached=0.30),
    "claude-3-7-sonnet": ModelPrice(input=3.00, output=15.00, cached=0.30),
    "claude-sonnet-4": ModelPrice(input=3.00, output=15.00, cached=0.30),
    "claude-3-opus": ModelPrice(input=15.00, output=75.00, cached=1.50),
    "claude-opus-4": ModelPrice(input=15.00, output=75.00, cached=1.50),
}

FloatArray = npt.NDArray[np.float64]


@dataclass
class PhaseCost:
    """Per phase: cost metric values and why one has none; and the run's cost summary."""

    values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    unavailable: dict[str, dict[str, str]] = field(default_factory=dict)
    summary: CostSummary = field(default_factory=CostSummary)


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of ``model``: exact name, else the longest name that prefixes it."""
    exact = prices.get(model)
    if exact is not None:
        return exact
    best: str | None = None
    for name in prices:
        if model.startswith(name) and (best is None or len(name) > len(best)):
            best = name
    return prices[best] if best is not None else None


def compute_cost(
    data: RunData,
    prepared: PreparedRun,
    overrides: Mapping[str, ModelPrice] | None = None,
    *,
    t0: float | None,
    window_s: float,
) -> PhaseCost:
    """Cost per call, summed per phase and per chart window (windows as the other series)."""
    table: dict[str, ModelPrice] = {**DEFAULT_PRICES, **(overrides or {})}
    calls = data.provider_calls
    result = PhaseCost()
    models = calls["model"].astype(object).to_numpy()
    status = calls["status"].to_numpy(dtype=np.float64)
    billed = (status >= 200) & (status < 300)
    tokens_in = np.nan_to_num(calls["tokens_in"].to_numpy(dtype=np.float64))
    tokens_out = np.nan_to_num(calls["tokens_out"].to_numpy(dtype=np.float64))
    cached = np.minimum(np.nan_to_num(calls["tokens_cached"].to_numpy(dtype=np.float64)), tokens_in)

    in_price = np.zeros(len(calls))
    out_price = np.zeros(len(calls))
    cached_price = np.zeros(len(calls))
    unpriced: dict[str, int] = {}
    codes, uniques = pd.factorize(pd.Series(models, dtype=object), use_na_sentinel=True)
    for code, model in enumerate(uniques):
        rows = codes == code
        price = price_for(str(model), table)
        if price is None:
            unpriced[str(model)] = int((rows & billed).sum())
            continue
        result.summary.prices[str(model)] = price
        in_price[rows] = price.input
        out_price[rows] = price.output
        cached_price[rows] = price.input if price.cached is None else price.cached
    no_model = int((billed & (codes == -1)).sum())
    if no_model:
        unpriced["(no model)"] = no_model
    result.summary.unpriced_models = {k: v for k, v in unpriced.items() if v}

    cost: FloatArray = (
        (tokens_in - cached) * in_price + cached * cached_price + tokens_out * out_price
    ) / 1e6
    cost[~billed] = 0.0
    wasted = np.where(prepared.call_wasted, cost, 0.0)

    for phase in REPORTED_PHASES:
        values: dict[str, float | None] = dict.fromkeys(COST_METRICS)
        why: dict[str, str] = {}
        if prepared.timeline.phases[phase].start is None:
            result.values[phase] = values
            result.unavailable[phase] = dict.fromkeys(
                COST_METRICS, f"the {phase} phase did not happen"
            )
            continue
        if phase == "run":
            call_in = prepared.call_phase >= PHASE_ORDER.index("baseline")
            req_in = prepared.req_phase >= PHASE_ORDER.index("baseline")
        else:
            call_in = prepared.call_phase == PHASE_ORDER.index(phase)
            req_in = prepared.req_phase == PHASE_ORDER.index(phase)
        total = float(cost[call_in].sum())
        values["cost_usd"] = total
        values["wasted_cost_usd"] = float(wasted[call_in].sum())
        successes = int(prepared.req_succeeded[req_in].sum())
        if successes:
            values["cost_per_success_usd"] = total / successes
        else:
            why["cost_per_success_usd"] = f"no user request succeeded in the {phase} phase"
        result.values[phase] = values
        result.unavailable[phase] = why

    edges = prepared.timeline.boundaries
    if t0 is not None and edges is not None:
        span = max(edges[-1] - t0, 0.0)
        width = max(window_s, span / MAX_SERIES_WINDOWS)
        count = max(math.ceil(span / width - 1e-9), 1)
        bins = np.floor((prepared.call_t - t0) / width).astype(np.int64)
        inside = (bins >= 0) & (bins < count)
        per = np.bincount(bins[inside], weights=cost[inside], minlength=count)
        per_wasted = np.bincount(bins[inside], weights=wasted[inside], minlength=count)
        result.summary.t0 = t0
        result.summary.window_s = width
        result.summary.t = [i * width for i in range(count)]
        result.summary.cost_usd = [float(v) for v in per[:count]]
        result.summary.wasted_usd = [float(v) for v in per_wasted[:count]]
    return result
