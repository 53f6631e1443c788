"""Prometheus metrics with ``prometheus_client``: one registry per service instance.

brownout scrapes ``GET /metrics`` every second into ``sut_metrics.jsonl`` and charts
``sut_queue_depth``, so every example exposes at least that gauge. A registry per instance (not
the process-global default) keeps two services in one test process apart.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# `_created` samples double the scrape size and mean nothing to a load test.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
