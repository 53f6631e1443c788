"""The public surface of the fault proxy and its client: nothing leaks, nothing goes missing."""

from __future__ import annotations

import subprocess
import sys

import harness.faultproxy
import harness.toxiproxy


def test_faultproxy_exports() -> None:
    assert sorted(harness.faultproxy.__all__) == ["FaultProxyServer", "TOXIPROXY_VERSION", "main"]
    for name in harness.faultproxy.__all__:
        assert hasattr(harness.faultproxy, name)


def test_client_exports() -> None:
    for name in harness.toxiproxy.__all__:
        assert hasattr(harness.toxiproxy, name)
    assert {"ToxiproxyClient", "ToxiproxyError", "Proxy", "Toxic"} <= set(harness.toxiproxy.__all__)


def test_client_does_not_import_the_embedded_server() -> None:
    # The client works against any Toxiproxy: it must not depend on the embedded one.
    code = "import sys, harness.toxiproxy; assert 'harness.faultproxy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
