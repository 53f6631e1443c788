"""Prometheus text for ``GET /metrics`` (only with ``-proxy-metrics`` / ``-runtime-metrics``).

Toxiproxy exports two byte counters per proxy and direction, incremented when a link
finishes; the same is done here so dashboards built for Toxiproxy read these unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.faultproxy.proxy import Proxy

__all__ = ["render_metrics"]

_COUNTERS = (
    (
        "toxiproxy_proxy_received_bytes_total",
        "The total bytes received from the source of a link",
        "received",
    ),
    (
        "toxiproxy_proxy_sent_bytes_total",
        "The total bytes sent to the destination of a link",
        "sent",
    ),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(proxies: Sequence[Proxy]) -> str:
    lines: list[str] = []
    for metric, help_text, attr in _COUNTERS:
        lines.append(f"# HELP {metric} {help_text}")
        lines.append(f"# TYPE {metric} counter")
        for proxy in proxies:
            counts = getattr(proxy.metrics, attr)
            for direction in ("downstream", "upstream"):
                labels = (
                    f'direction="{direction}",listener="{_label(proxy.listen)}",'
                    f'proxy="{_label(proxy.name)}",upstream="{_label(proxy.upstream)}"'
                )
                lines.append(f"{metric}{{{labels}}} {counts[direction]}")
    return "\n".join(lines) + "\n"
