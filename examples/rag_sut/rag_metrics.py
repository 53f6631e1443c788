"""The SUT's own counters and gauges, rendered in the Prometheus text format.

brownout scrapes ``GET /metrics`` every second (sut_metrics.jsonl), which is how a report can
show the queue backing up behind a fault: the SUT's inside view next to the load generator's
outside view. A dozen numbers do not need a metrics library.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

# name -> (type, help, label name for labelled counters)
_HELP: dict[str, tuple[str, str, str | None]] = {
    "sut_requests_total": ("counter", "Valid /ask requests received.", None),
    "sut_bad_requests_total": ("counter", "Rejected /ask requests (4xx).", None),
    "sut_responses_total": ("counter", "/ask responses by HTTP status code.", "code"),
    "sut_provider_attempts_total": ("counter", "Calls made to the LLM provider.", None),
    "sut_provider_errors_total": ("counter", "Provider calls that failed (any reason).", None),
    "sut_provider_errors_by_kind_total": ("counter", "Failed provider calls by kind.", "kind"),
    "sut_retries_total": ("counter", "Provider calls that were retries.", None),
    "sut_giveups_total": ("counter", "Requests the policy gave up on, by reason.", "reason"),
    "sut_request_duration_seconds_sum": ("counter", "Total /ask handling time, seconds.", None),
    "sut_request_duration_seconds_count": ("counter", "Handled /ask requests.", None),
    "sut_queue_depth": ("gauge", "Jobs waiting for a worker.", None),
    "sut_in_flight": ("gauge", "Jobs being served by a worker (calls and backoff waits).", None),
    "sut_provider_in_flight": ("gauge", "Provider calls currently open.", None),
    "sut_workers": ("gauge", "Worker tasks serving the queue.", None),
    "sut_circuit_open": ("gauge", "1 while the circuit breaker rejects calls.", None),
    "sut_retry_budget_tokens": ("gauge", "Retries the retry budget currently allows.", None),
}


class Metrics:
    """Counters (monotonic, optionally with one label) and the gauges read at scrape time."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = defaultdict(float)
        self.labelled: dict[tuple[str, str, str], float] = defaultdict(float)

    def inc(self, name: str, amount: float = 1.0) -> None:
        self.counters[name] += amount

    def inc_labelled(self, name: str, label: str, value: str, amount: float = 1.0) -> None:
        self.labelled[(name, label, value)] += amount

    def render(self, gauges: Mapping[str, float]) -> str:
        """The exposition text: every known counter (0 until it moves) and the given gauges."""
        lines: list[str] = []
        for name, (kind, help_text, label_name) in _HELP.items():
            samples: list[str] = []
            if kind == "gauge":
                if name in gauges:
                    samples.append(f"{name} {_number(gauges[name])}")
            elif label_name is not None:
                for (metric, label, value), amount in sorted(self.labelled.items()):
                    if metric == name:
                        samples.append(f'{name}{{{label}="{_escape(value)}"}} {_number(amount)}')
            else:
                samples.append(f"{name} {_number(self.counters.get(name, 0.0))}")
            if samples or label_name is not None:
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
