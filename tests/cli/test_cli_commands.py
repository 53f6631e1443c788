"""The ``brownout`` command as users call it: real subprocesses, exit codes, no tracebacks."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def brownout(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(brownout(*args), capture_output=True, text=True, timeout=120)


@contextmanager
def serving(*args: str) -> Iterator[str]:
    """Start a long-running brownout command; yield the URL from its ready line."""
    process = subprocess.Popen(
        brownout(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the ready line (or EOF on failure)
        assert line.startswith("BROWNOUT_READY "), line + (
            process.stderr.read() if process.stderr else ""
        )
        yield line.split()[1]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("run", "report", "validate", "schema", "toxiproxy", "mock"):
        assert command in result.stdout


def test_validate_accepts_every_shipped_scenario() -> None:
    result = run("validate", *map(str, SCENARIOS))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(SCENARIOS)


def test_schema_is_json_schema_of_the_scenario() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert {"name", "duration", "faults", "slos", "sut"} <= set(schema["properties"])


def test_report_on_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = run("report", str(tmp_path))
    assert result.returncode == 2
    assert "not a brownout run directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("rnu")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_mock_openai_standalone() -> None:
    with serving("mock", "openai", "--port", "0") as url:
        assert url.startswith("http://127.0.0.1:")
        models = httpx.get(f"{url}/v1/models", timeout=10).json()
        assert models["object"] == "list"


def test_toxiproxy_standalone() -> None:
    with serving("toxiproxy", "-port", "0") as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/version", timeout=10).status_code == 200


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_parse_with_time_scale(path: Path) -> None:
    from harness.scenario import load_scenario

    assert load_scenario(path, time_scale=0.25).duration_s > 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--master-bind", "0.0.0.0:5557", "--master-bind '0.0.0.0' is not a loopback address"),
        ("--toxiproxy-url", "http://10.0.0.5:8474", "'10.0.0.5' is not a loopback address"),
    ],
)
def test_run_refuses_a_non_loopback_address_given_on_the_command_line(
    option: str, value: str, message: str, tmp_path: Path
) -> None:
    # The quickstart does not set allow_non_loopback, so neither option may leave loopback;
    # the refusal comes before anything is started (no report directory appears).
    args = ["run", str(ROOT / "scenarios" / "quickstart.yaml"), option, value]
    if option == "--master-bind":
        args += ["--remote-workers", "1"]
    result = subprocess.run(
        brownout(*args), capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "allow_non_loopback: true" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()
