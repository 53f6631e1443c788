"""brownout inside tests: real mock providers and fault proxies a test programs in a line, a
scenario run that returns its verdict, and assertions that say what broke.

``harness.pytest_plugin`` (the ``pytest11`` entry point) turns these into pytest fixtures;
this package itself imports nothing from pytest, so the same objects work in any test runner,
notebook or script::

    from harness.testing import MockProvider, assert_slos, run_scenario_file
"""

from harness.testing.components import FaultProxy, MockProvider, ProxyHandle, ServiceProcess
from harness.testing.outcome import RunOutcome, assert_metric, assert_slos, run_scenario_file

__all__ = [
    "FaultProxy",
    "MockProvider",
    "ProxyHandle",
    "RunOutcome",
    "ServiceProcess",
    "assert_metric",
    "assert_slos",
    "run_scenario_file",
]
