"""The discoverability commands (faults, init) and help polish, in-process with click's runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from harness.cli import cli
from harness.scenario import NETWORK_FAULT_TYPES, PROVIDER_FAULT_TYPES, load_scenario
from harness.scenario.schema import scenario_json_schema


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_faults_lists_the_whole_catalogue() -> None:
    code, out, _ = invoke("faults")
    assert code == 0
    for name in [*PROVIDER_FAULT_TYPES, *NETWORK_FAULT_TYPES]:
        assert f"  {name}" in out


def test_faults_type_shows_the_toxic_attributes() -> None:
    code, out, _ = invoke("faults", "slicer")
    assert code == 0
    for attribute in NETWORK_FAULT_TYPES["slicer"]:
        assert f"attributes.{attribute}" in out


def test_faults_type_shows_the_provider_params() -> None:
    code, out, _ = invoke("faults", "error")
    assert code == 0
    assert "params.status" in out and "HTTP status" in out and "default 500" in out


def test_faults_unknown_type_suggests_the_close_one() -> None:
    code, _, err = invoke("faults", "rate_limt")
    assert code == 2
    assert "did you mean 'rate_limit'?" in err


@pytest.mark.parametrize(
    "flags",
    [
        ["--command", "python -m myservice --port {port}"],
        ["--url", "http://127.0.0.1:8000", "--flavour", "anthropic", "--proxy-port", "18555"],
        ["--command", "node server.js", "--base-url-env", "LLM_BASE", "--path", "/v2/chat"],
        ["--command", "python app.py --port {port}", "--flavour", "azure"],
        ["--command", "python app.py --port {port}", "--flavour", "gemini"],
    ],
)
def test_init_writes_a_scenario_that_validates(flags: list[str], tmp_path: Path) -> None:
    output = tmp_path / "my-service.yaml"
    result = CliRunner().invoke(cli, ["init", "-o", str(output), *flags], input="")
    assert result.exit_code == 0, result.output
    scenario = load_scenario(output)  # what `brownout validate` checks
    data = yaml.safe_load(output.read_text(encoding="utf-8"))
    jsonschema.validate(data, scenario_json_schema())
    assert scenario.name == "my-service"
    if "--url" in flags:
        assert scenario.sut.url == "http://127.0.0.1:8000"
        assert scenario.proxies["llm"].listen == "127.0.0.1:18555"
        assert "ANTHROPIC_BASE_URL=http://127.0.0.1:18555" in output.read_text(encoding="utf-8")
    if "--base-url-env" in flags:
        assert scenario.sut.env["LLM_BASE"] == "{proxy.llm.url}/v1"
        assert scenario.load.request.path == "/v2/chat"
    if "azure" in flags:  # what openai.AzureOpenAI() reads
        assert scenario.providers["llm"].flavour == "azure"
        assert scenario.sut.env["AZURE_OPENAI_ENDPOINT"] == "{proxy.llm.url}"
        assert {"AZURE_OPENAI_API_KEY", "OPENAI_API_VERSION"} <= set(scenario.sut.env)
    if "gemini" in flags:  # what google.genai.Client() reads
        assert scenario.sut.env["GOOGLE_GEMINI_BASE_URL"] == "{proxy.llm.url}"
        assert "GEMINI_API_KEY" in scenario.sut.env


def test_init_asks_nothing_without_a_terminal_and_keeps_existing_files(tmp_path: Path) -> None:
    output = tmp_path / "brownout.yaml"
    output.write_text("mine", encoding="utf-8")
    code, _, err = invoke("init", "-o", str(output))
    assert code == 2 and "--force" in err
    assert output.read_text(encoding="utf-8") == "mine"
    code, _, _ = invoke("init", "-o", str(output), "--force")
    assert code == 0
    load_scenario(output)


def test_help_has_no_rst_markup() -> None:
    for command in [[], *([name] for name in cli.list_commands(None))]:  # type: ignore[arg-type]
        if command and command[0] in ("mock", "toxiproxy"):
            continue
        code, out, _ = invoke(*command, "--help")
        assert code == 0, command
        assert "``" not in out, command


def test_mock_help_names_the_brownout_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness", "mock", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: brownout mock ")
    assert "python -m mock_providers" not in result.stdout
