"""Embedded Toxiproxy-compatible fault proxy: the Toxiproxy 2.12 HTTP API plus TCP proxying
with its toxics (latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, noop).

It exists so a brownout run needs no external binary; anything that speaks to Toxiproxy
(``harness.toxiproxy``, ``toxiproxy-python``, the Go client) works against it unchanged.
Deviations from the real server are listed in docs/toxiproxy-compatibility.md.
"""

from harness.faultproxy.api import TOXIPROXY_VERSION
from harness.faultproxy.cli import main
from harness.faultproxy.server import FaultProxyServer

__all__ = ["TOXIPROXY_VERSION", "FaultProxyServer", "main"]
