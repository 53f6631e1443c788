"""The explaining analyses in one call: client-resilience verdicts, cost, worst requests and
attribution, folded into the phase metrics (so SLOs can name them) and into the summary.

``analyze_run`` calls ``explain_run`` once; everything here reads only the frames already
loaded, plus lazy passes over the run directory for the few requests it shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.analysis.cost import compute_cost
from harness.analysis.impact import compute_impact
from harness.analysis.loading import RunData
from harness.analysis.metrics import PreparedRun
from harness.analysis.models import LoadStage, PhaseMetrics
from harness.analysis.request_ids import resolve_request_ids
from harness.analysis.resilience import compute_resilience
from harness.analysis.stage_times import stage
from harness.analysis.stages import load_stages
from harness.analysis.traces import worst_traces
from harness.analysis.verdict_models import (
    CostSummary,
    ImpactLine,
    ModelPrice,
    Verdict,
    WorstRequest,
)

__all__ = ["Explained", "explain_run"]


@dataclass
class Explained:
    resilience: dict[str, list[Verdict]] = field(default_factory=dict)
    cost: CostSummary = field(default_factory=CostSummary)
    worst_requests: list[WorstRequest] = field(default_factory=list)
    impact: list[ImpactLine] = field(default_factory=list)
    load_stages: list[LoadStage] = field(default_factory=list)

    def summary_fields(self) -> dict[str, Any]:
        return {
            "resilience": self.resilience,
            "cost": self.cost,
            "worst_requests": self.worst_requests,
            "impact": self.impact,
            "load_stages": self.load_stages,
        }


def explain_run(
    data: RunData,
    prepared: PreparedRun,
    phases: Mapping[str, PhaseMetrics],
    scenario: Any,
    *,
    t0: float | None,
    window_s: float,
) -> Explained:
    """Compute the explaining analyses and write their metric values into ``phases``."""
    fault_types: dict[str, str] = {}
    overrides: dict[str, ModelPrice] = {}
    if scenario is not None:
        fault_types = {f.name: f.type for f in scenario.faults}
        overrides = {
            name: ModelPrice(input=p.input, output=p.output, cached=p.cached)
            for name, p in getattr(scenario, "prices", {}).items()
        }
    with stage("resilience"):
        verdicts = compute_resilience(data, prepared, fault_types)
    with stage("cost"):
        cost = compute_cost(data, prepared, overrides, t0=t0, window_s=window_s)
    for name, metrics in phases.items():
        for source_values, source_why in (
            (verdicts.values.get(name, {}), verdicts.unavailable.get(name, {})),
            (cost.values.get(name, {}), cost.unavailable.get(name, {})),
        ):
            for metric, value in source_values.items():
                setattr(metrics, metric, value)
                if value is None:
                    metrics.unavailable[metric] = source_why.get(metric, "not computable")
                else:
                    metrics.unavailable.pop(metric, None)

    wanted = {h for hashes in verdicts.example_hashes.values() for h in hashes}
    with stage("resilience"):
        ids = resolve_request_ids(data.run_dir, wanted) if wanted else {}
    for (phase, verdict_name), hashes in verdicts.example_hashes.items():
        for verdict in verdicts.verdicts.get(phase, []):
            if verdict.name == verdict_name:
                verdict.examples = [ids[h] for h in hashes if h in ids]
    with stage("traces"):
        worst = worst_traces(data, prepared)
    with stage("impact"):
        impact = compute_impact(data, prepared)
    return Explained(
        resilience=verdicts.verdicts,
        cost=cost.summary,
        worst_requests=worst,
        impact=impact,
        load_stages=load_stages(data.events),
    )
