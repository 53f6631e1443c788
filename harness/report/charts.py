"""Charts over time for the HTML report, drawn from a Summary's per-window series.

Figures are built with matplotlib's object API on an explicit Agg canvas, never through
``pyplot``: pyplot keeps global figure state and picks a GUI backend, which a library called
from a CLI or a test must not do. Charts come out as SVG data URIs so the report stays one
self-contained file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.analysis.models import Summary

__all__ = ["Chart", "render_charts"]

_FAULT_COLOURS: Final = ("#f4a3a3", "#f7c97f", "#c3a6e8", "#9fd0e0")
_PHASE_LABELS: Final = ("baseline", "fault", "recovery")
_INK: Final = "#222222"
_STAGE_INK: Final = "#00707a"


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    how_to_read: str
    data_uri: str
    alt: str


def render_charts(summary: Summary) -> list[Chart]:
    """The report's three charts; an empty list when the run has no time series."""
    series = summary.timeseries
    if not series.t or series.t0 is None:
        return []
    half = series.window_s / 2
    stage_note = (
        " Teal dash-dot lines mark where a load stage began, labelled with the load it set."
        if len(summary.load_stages) >= 2
        else ""
    )
    x = [t + half for t in series.t]  # plot each window at its middle

    charts = []
    fig, ax = _figure()
    ax.plot(x, _nan(series.latency_p50_ms), color="#1f77b4", lw=1.4, label="p50 latency")
    ax.plot(x, _nan(series.latency_p95_ms), color="#0b3c6b", lw=1.8, label="p95 latency")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    errors = ax.twinx()
    error_pct = [
        100.0 * e / r if r > 0 else math.nan
        for e, r in zip(series.errors_rps, series.requests_rps, strict=True)
    ]
    errors.fill_between(
        x,
        [0 if math.isnan(v) else v for v in error_pct],
        color="#d62728",
        alpha=0.25,
        step="mid",
        label="error rate",
    )
    errors.set_ylabel("errors (% of requests)", color="#b22222")
    errors.set_ylim(0, 100)
    _decorate(ax, summary, [ax, errors])
    charts.append(
        Chart(
            key="latency",
            title="User latency and error rate",
            how_to_read=(
                "Lines are the median (p50) and 95th-percentile latency of user requests started "
                "in each window; the red area is the share of them that failed. Shaded bands are "
                "fault windows. A gap in the lines is a window in which no request started (no "
                "latency to show), not a fall to zero." + stage_note
            ),
            data_uri=_svg_uri(fig),
            alt="User latency p50 and p95 and error rate over time, fault windows shaded",
        )
    )

    fig, ax = _figure()
    ax.plot(x, series.requests_rps, color="#2ca02c", lw=1.6, label="user requests/s")
    ax.plot(x, series.provider_attempts_rps, color="#ff7f0e", lw=1.6, label="provider attempts/s")
    ax.plot(x, series.goodput_rps, color="#2ca02c", lw=1.0, ls=":", label="goodput/s")
    ax.set_ylabel("per second")
    ax.set_ylim(bottom=0)
    ratio = ax.twinx()
    fan_out = _nan(series.fan_out)
    ratio.plot(x, fan_out, color="#7f3c00", lw=1.2, ls="--", label="fan-out (calls per request)")
    finite = [v for v in fan_out if not math.isnan(v)]
    ratio.set_ylim(0, max([*finite, 1.0]) * 1.15)
    ratio.set_ylabel("calls per user request", color="#7f3c00")
    _decorate(ax, summary, [ax, ratio])
    charts.append(
        Chart(
            key="amplification",
            title="Provider attempts vs user requests",
            how_to_read=(
                "When the orange line (calls reaching the provider) rises above the green one "
                "(requests users sent), the system is multiplying load, usually by retrying. "
                "The dotted line is goodput: requests that succeeded in time. The dashed line "
                "(right axis) is fan-out, the calls each user request caused, so amplification "
                "shows as a ratio." + stage_note
            ),
            data_uri=_svg_uri(fig),
            alt="Provider attempts per second and user requests per second over time",
        )
    )

    fig, ax = _figure()
    queue = _nan(series.queue_depth)
    in_flight = _nan(series.provider_in_flight)
    drew = False
    if any(not math.isnan(v) for v in queue):
        ax.step(x, queue, where="mid", color="#9467bd", lw=1.8, label="SUT queue depth (max)")
        drew = True
    if any(not math.isnan(v) for v in in_flight):
        ax.step(
            x,
            in_flight,
            where="mid",
            color="#8c564b",
            lw=1.0,
            label="provider in-flight calls (max)",
        )
        drew = True
    provider_queue = _nan(series.provider_queue_depth)
    if any(not math.isnan(v) for v in provider_queue):
        ax.step(
            x,
            provider_queue,
            where="mid",
            color="#e377c2",
            lw=1.4,
            ls="--",
            label="provider queue depth (max)",
        )
        drew = True
    if not drew:
        ax.text(
            0.5,
            0.5,
            "no queue-depth or in-flight samples in this run",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#666666",
        )
    ax.set_ylabel("count")
    ax.set_ylim(bottom=0)
    _decorate(ax, summary, [ax])
    charts.append(
        Chart(
            key="backlog",
            title="Backlog: SUT queue depth and provider in-flight calls",
            how_to_read=(
                "A queue that keeps growing during a fault and does not drain after it is the "
                "signature of overload; one that stays high after the fault is gone suggests a "
                "metastable failure. The dashed line is the queue at the mock provider itself "
                "(calls waiting for one of its capacity slots), when the scenario gives it one."
                + stage_note
            ),
            data_uri=_svg_uri(fig),
            alt="SUT queue depth and provider in-flight calls over time",
        )
    )
    return charts


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(10.0, 3.3), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.grid(True, color="#e5e5e5", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top",):
        ax.spines[side].set_visible(False)
    return fig, ax


def _decorate(ax: Axes, summary: Summary, legend_axes: Sequence[Axes]) -> None:
    """Shade and label fault windows, mark phase starts, add the x label and one legend."""
    t0 = summary.timeseries.t0
    assert t0 is not None
    end = summary.load_stopped or (t0 + summary.timeseries.t[-1] + summary.timeseries.window_s)
    for index, fault in enumerate(summary.faults):
        start = fault.applied_at - t0
        stop = (fault.removed_at if fault.removed_at is not None else end) - t0
        colour = _FAULT_COLOURS[index % len(_FAULT_COLOURS)]
        ax.axvspan(start, stop, color=colour, alpha=0.35, lw=0, zorder=0)
        # Stagger labels so overlapping fault windows stay readable.
        ax.text(
            start,
            1.0 - 0.09 * (index % 3),
            f" {fault.name}",
            transform=ax.get_xaxis_transform(),
            va="top",
            ha="left",
            fontsize=8,
            color=_INK,
            clip_on=True,
        )
    _mark_load_stages(ax, summary, t0, end)
    for name in _PHASE_LABELS:
        phase = summary.phases.get(name)
        if phase is None or phase.start is None:
            continue
        ax.axvline(phase.start - t0, color="#555555", lw=0.9, ls="--", zorder=1)
        ax.text(
            phase.start - t0,
            0.02,
            f" {name}",
            transform=ax.get_xaxis_transform(),
            va="bottom",
            ha="left",
            fontsize=7,
            color="#555555",
            style="italic",
        )
    recovery = summary.phases.get("recovery")
    if recovery is not None and recovery.start is not None:
        back = summary.recovery.recovery_time_s
        if back is not None:
            ax.axvline(recovery.start + back - t0, color="#1b7f3b", lw=1.2, ls=":", zorder=1)
            ax.text(
                recovery.start + back - t0,
                0.5,
                " back to baseline",
                transform=ax.get_xaxis_transform(),
                fontsize=7.5,
                color="#1b7f3b",
                rotation=90,
                va="center",
                ha="left",
            )
        elif summary.recovery.metastable:
            ax.text(
                end - t0,
                0.5,
                "never recovered ",
                transform=ax.get_xaxis_transform(),
                fontsize=8,
                color="#b3261e",
                rotation=90,
                va="center",
                ha="right",
                fontweight="bold",
            )
    ax.set_xlim(0, max(end - t0, summary.timeseries.window_s))
    ax.set_xlabel("seconds since load started")
    handles = []
    labels = []
    for axis in legend_axes:
        h, lab = axis.get_legend_handles_labels()
        handles.extend(h)
        labels.extend(lab)
    if handles:
        # Below the plot, so the legend never hides the lines it explains.
        ax.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncols=len(handles),
            fontsize=8.5,
            frameon=False,
        )


def _mark_load_stages(ax: Axes, summary: Summary, t0: float, end: float) -> None:
    """A dash-dot line where each load stage began (``load_stage`` events), labelled with what
    the load became, so a change in load is never mistaken for the fault's effect. A run with a
    single stage (constant load) draws nothing."""
    stages = summary.load_stages
    if len(stages) < 2:
        return
    for stage in stages:
        at = stage.t - t0
        if at < 0 or stage.t > end:
            continue
        ax.axvline(at, color=_STAGE_INK, lw=1.0, ls="-.", zorder=1)
        ax.text(
            at,
            0.2,
            f" stage {stage.index + 1}: {stage.label}",
            transform=ax.get_xaxis_transform(),
            fontsize=7,
            color=_STAGE_INK,
            rotation=90,
            va="bottom",
            ha="right",
            clip_on=True,
        )


def _nan(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def _svg_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    # No date in the metadata: the same run renders to the same bytes of chart.
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
