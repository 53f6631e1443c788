"""The SUT's own counters and gauges, exposed with ``prometheus_client``.

brownout scrapes ``GET /metrics`` every second (sut_metrics.jsonl), which is how a report can
show the queue backing up behind a fault: the SUT's inside view next to the load generator's
outside view. The service counts by metric name (``inc``, ``inc_labelled``) and hands its gauges
over at scrape time (``render``), so no request path holds a metric object.
"""

from __future__ import annotations

from collections.abc import Mapping

from example_kit.metrics import exposition, new_registry
from prometheus_client import Counter, Gauge, Summary

# name -> (help, label name for labelled counters); names as scraped, with `_total`.
_COUNTERS: dict[str, tuple[str, str | None]] = {
    "sut_requests_total": ("Valid /ask requests received.", None),
    "sut_bad_requests_total": ("Rejected /ask requests (4xx).", None),
    "sut_responses_total": ("/ask responses by HTTP status code.", "code"),
    "sut_provider_attempts_total": ("Calls made to the LLM providers.", None),
    "sut_provider_calls_total": ("Calls made, by provider (primary, fallback).", "provider"),
    "sut_provider_errors_total": ("Provider calls that failed (any reason).", None),
    "sut_provider_errors_by_kind_total": ("Failed provider calls by kind.", "kind"),
    "sut_retries_total": ("Provider calls that were retries.", None),
    "sut_failovers_total": ("Requests that went on to the fallback provider.", None),
    "sut_giveups_total": ("Requests the policy gave up on, by reason.", "reason"),
}
_GAUGES: dict[str, tuple[str, str | None]] = {
    "sut_queue_depth": ("Jobs waiting for a worker.", None),
    "sut_in_flight": ("Jobs being served by a worker (calls and backoff waits).", None),
    "sut_provider_in_flight": ("Provider calls currently open.", None),
    "sut_workers": ("Worker tasks serving the queue.", None),
    "sut_circuit_open": ("1 while the primary provider's circuit breaker rejects calls.", None),
    "sut_provider_circuit_open": ("1 while that provider's breaker rejects calls.", "provider"),
    "sut_retry_budget_tokens": ("Retries the retry budget currently allows.", None),
}


class Metrics:
    """Counters (optionally with one label), a duration summary, and gauges set at scrape."""

    def __init__(self) -> None:
        self.registry = new_registry()
        self._counters: dict[str, Counter] = {}
        for name, (help_text, label) in _COUNTERS.items():
            labels = [label] if label else []
            self._counters[name] = Counter(
                name.removesuffix("_total"), help_text, labels, registry=self.registry
            )
        self._gauges: dict[str, Gauge] = {}
        for name, (help_text, label) in _GAUGES.items():
            labels = [label] if label else []
            self._gauges[name] = Gauge(name, help_text, labels, registry=self.registry)
        self._duration = Summary(
            "sut_request_duration_seconds", "Time to answer /ask.", registry=self.registry
        )

    def inc(self, name: str, amount: float = 1.0) -> None:
        self._counters[name].inc(amount)

    def inc_labelled(self, name: str, label: str, value: str, amount: float = 1.0) -> None:
        self._counters[name].labels(**{label: value}).inc(amount)

    def observe_duration(self, seconds: float) -> None:
        self._duration.observe(seconds)

    def render(self, gauges: Mapping[str, float]) -> str:
        """The exposition text, with the gauges set to the given values.

        A name ``base{label=value}`` sets one child of a labelled gauge."""
        for name, value in gauges.items():
            base, _, rest = name.partition("{")
            gauge = self._gauges[base]
            if rest:
                label, _, label_value = rest.rstrip("}").partition("=")
                gauge.labels(**{label: label_value}).set(value)
            else:
                gauge.set(value)
        return exposition(self.registry).decode()
