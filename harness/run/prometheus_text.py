"""The SUT's Prometheus text → samples, through ``prometheus_client``'s own parser.

The library handles what a hand-written regex gets wrong (escaping, timestamps, exemplars,
OpenMetrics-style names, histogram and summary families). On top of the raw samples, every
histogram family also yields its p50/p95/p99 per label set (``<name>_p95``), estimated from
the cumulative buckets the way PromQL's ``histogram_quantile`` does, so a queue-wait or
latency histogram is a time series in ``sut_metrics.jsonl`` like any gauge.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["HISTOGRAM_QUANTILES", "MetricSample", "histogram_quantile", "parse_prometheus_text"]

MetricSample = tuple[str, dict[str, str], float]

#: The quantiles derived from each histogram, and the suffix each gets.
HISTOGRAM_QUANTILES: dict[str, float] = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def parse_prometheus_text(text: str) -> list[MetricSample]:
    """Every sample, then the quantiles of every histogram. A malformed exposition is parsed
    line by line instead, so one bad line costs that line, not the scrape."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError):
        families = []
        for line in text.splitlines():
            try:
                families.extend(text_string_to_metric_families(line + "\n"))
            except (ValueError, TypeError, IndexError):
                continue
    samples: list[MetricSample] = []
    for family in families:
        for sample in family.samples:
            samples.append((sample.name, dict(sample.labels), float(sample.value)))
        if family.type == "histogram":
            samples.extend(_histogram_quantiles(family.name, family.samples))
    return samples


def _histogram_quantiles(name: str, family_samples: Sequence[Sample]) -> list[MetricSample]:
    buckets: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = defaultdict(list)
    for sample in family_samples:
        labels = dict(sample.labels)
        if not sample.name.endswith("_bucket") or "le" not in labels:
            continue
        try:
            bound = float(labels.pop("le"))
        except ValueError:
            continue
        buckets[tuple(sorted(labels.items()))].append((bound, float(sample.value)))
    out: list[MetricSample] = []
    for key, series in buckets.items():
        for suffix, q in HISTOGRAM_QUANTILES.items():
            value = histogram_quantile(q, series)
            if value is not None:
                out.append((f"{name}_{suffix}", dict(key), value))
    return out


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative ``(upper bound, count)`` buckets, linearly interpolated
    inside its bucket (PromQL's estimate); None without observations. A quantile that falls in
    the ``+Inf`` bucket is the highest finite bound."""
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        return None
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            share = (rank - lower_count) / (count - lower_count)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return None
