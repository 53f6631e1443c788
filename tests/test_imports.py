"""``import locust`` monkey-patches the interpreter with gevent; it must stay in the Locust
subprocess. This runs in a fresh interpreter because pytest plugins may import anything."""

from __future__ import annotations

import subprocess
import sys

import harness

PROBE = """
import sys
import harness, harness.cli, harness.scenario, harness.run, harness.load, harness.analysis
import harness.report, harness.toxiproxy, harness.faultproxy, harness.testing, mock_providers
print(" ".join(sorted(m for m in ("locust", "gevent", "pytest") if m in sys.modules)) or "clean")
"""


def test_importing_harness_and_mock_providers_does_not_load_locust_gevent_or_pytest() -> None:
    # pytest stays a test-time dependency: only pytest itself loads harness.pytest_plugin.
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "clean", out.stdout + out.stderr


def test_mock_providers_does_not_import_harness() -> None:
    probe = "import sys, mock_providers; print('harness' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"


def test_version_is_exposed() -> None:
    assert harness.__version__


def test_scenario_knows_every_provider_fault_type() -> None:
    # harness may not import mock_providers at run time; this test keeps the two lists equal.
    from harness.scenario import PROVIDER_FAULT_TYPES
    from mock_providers import CATALOGUE

    assert sorted(PROVIDER_FAULT_TYPES) == sorted(CATALOGUE)
