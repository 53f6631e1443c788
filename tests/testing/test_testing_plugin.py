"""The pytest plugin as users meet it: registered by installing brownout, fixtures documented in
``pytest --fixtures``, assertions that say what broke, and the documented example test of a
small service (examples/pytest_own_service) passing under real pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis import analyze_run
from harness.analysis.synthetic import write_demo_run
from harness.testing import RunOutcome, assert_metric, assert_slos

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pytest_own_service"


def pytest_in_subprocess(*args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )


def test_fixtures_are_registered_with_their_docstrings() -> None:
    result = pytest_in_subprocess("--fixtures", str(EXAMPLE / "test_service.py"))
    assert result.returncode == 0, result.stdout + result.stderr
    for fixture, phrase in [
        ("brownout_mock", "mock OpenAI-compatible provider"),
        ("brownout_mock_factory", "further mock providers"),
        ("brownout_proxy", "Toxiproxy-compatible fault proxy"),
        ("brownout_run", "Run a scenario"),
        ("brownout_service", "Start your own service"),
    ]:
        assert fixture in result.stdout
        assert phrase in result.stdout


def test_the_entry_point_registers_the_plugin_marker_and_options(
    request: pytest.FixtureRequest,
) -> None:
    config = request.config
    assert config.pluginmanager.get_plugin("brownout") is not None  # the pytest11 name
    assert any(line.startswith("brownout:") for line in config.getini("markers"))
    assert config.getoption("--brownout-time-scale") is None


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    run_dir = write_demo_run(tmp_path_factory.mktemp("plugin") / "20251126T120000Z-demo")
    return RunOutcome(run_dir=run_dir, summary=analyze_run(run_dir), report=run_dir / "x.html")


def test_assert_slos_names_the_broken_slo_its_figures_and_the_report(outcome: RunOutcome) -> None:
    broken = outcome.failed_slos
    assert broken, "the demo run has a failing SLO (its naive retries)"
    with pytest.raises(AssertionError) as caught:
        assert_slos(outcome)
    message = str(caught.value)
    for slo in broken:
        assert slo.name in message and slo.reason in message
    assert f"{len(broken)} of {len(outcome.summary.slos)} SLOs failed" in message
    assert "fault     requests=" in message
    assert str(outcome.report) in message


def test_assert_metric_reports_value_bound_and_report(outcome: RunOutcome) -> None:
    value = outcome.metric("retry_amplification", "fault")
    assert_metric(outcome, "retry_amplification", phase="fault", max=value)
    with pytest.raises(AssertionError) as caught:
        assert_metric(outcome, "retry_amplification", phase="fault", max=value / 2)
    message = str(caught.value)
    assert f"retry_amplification in fault = {value:g}, expected <= {value / 2:g}" in message
    assert str(outcome.report) in message


@pytest.mark.slow
def test_the_documented_example_passes_under_pytest() -> None:
    result = pytest_in_subprocess(str(EXAMPLE), "-q", "--brownout-time-scale", "0.75")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


def test_service_process_from_its_ready_line_and_a_clear_error_when_it_dies() -> None:
    from harness.errors import ComponentStartError
    from harness.testing import ServiceProcess

    argv = [sys.executable, str(EXAMPLE / "service.py"), "--port", "0"]
    with ServiceProcess(argv) as service:  # no {port}: the URL comes from BROWNOUT_READY
        import httpx

        assert httpx.get(f"{service.url}/healthz", timeout=10).json() == {"status": "ok"}
    crash = [sys.executable, "-c", "import sys; print('no config'); sys.exit(4)"]
    with pytest.raises(ComponentStartError, match="exited with code 4") as caught:
        ServiceProcess(crash).start()
    assert "no config" in str(caught.value)
