"""LoadConfig round trips and reports every problem; the Locust command line and environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.load import (
    CONFIG_ENV_VAR,
    LOCUSTFILE,
    ContainsValidator,
    JsonFieldValidator,
    LoadConfig,
    LoadConfigError,
    RequestSpec,
    build_locust_command,
    build_locust_env,
    read_load_config,
)


def make_config(**overrides: object) -> LoadConfig:
    fields: dict[str, object] = {
        "host": "http://127.0.0.1:8000",
        "users": 3,
        "spawn_rate": 1.5,
        "run_time_s": 4.2,
        "requests_file": "/tmp/run/requests.jsonl",
        "request": RequestSpec(
            path="/ask",
            json={"question": "why?", "n": [1, 2]},
            headers={"X-Tenant": "a"},
            timeout_s=5.0,
            bodies=({"question": "a"}, {"question": "b"}),
        ),
        "wait_s": 0.25,
        "validators": (
            JsonFieldValidator(field="answer", non_empty=True),
            ContainsValidator(text="p1"),
        ),
        "seed": 42,
        "health_file": "/tmp/run/load_health.jsonl",
    }
    fields.update(overrides)
    return LoadConfig(**fields)  # type: ignore[arg-type]


def test_round_trip_through_json(tmp_path: Path) -> None:
    config = make_config()
    assert LoadConfig.from_json(config.to_json()) == config
    path = tmp_path / "load.json"
    config.write(path)
    assert read_load_config(path) == config


def test_defaults_fill_a_minimal_config() -> None:
    config = LoadConfig.from_json(
        '{"host": "http://h:1", "users": 1, "spawn_rate": 1, "run_time_s": 1,'
        ' "requests_file": "r.jsonl"}'
    )
    assert config.request == RequestSpec()
    assert config.request.label == "POST /ask"
    assert config.wait_s == 0 and config.validators == () and config.seed is None


def test_every_problem_is_reported_at_once() -> None:
    bad = (
        '{"host": "ftp://x", "users": 0, "spawn_rate": -1, "run_time_s": 1,'
        ' "requests_file": "r", "request": {"method": "BREW", "path": "ask", "timeout_s": 0},'
        ' "validators": [{"type": "regex", "pattern": "x"}], "colour": "red"}'
    )
    with pytest.raises(LoadConfigError) as caught:
        LoadConfig.from_json(bad)
    message = str(caught.value)
    for where in (
        "host",
        "users",
        "spawn_rate",
        "request.path",
        "request.method",
        "request.timeout_s",
        "validators.0",
        "colour",
    ):
        assert f"  {where}" in message, message


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LoadConfigError, match="cannot read load configuration"):
        read_load_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(LoadConfigError, match=r"bad\.json"):
        read_load_config(tmp_path / "bad.json")


def test_locust_command_runs_the_locustfile_headless_and_never_fails_on_request_errors(
    tmp_path: Path,
) -> None:
    config = make_config()
    command = build_locust_command(tmp_path / "load.json", config)

    assert command[:3] == [sys.executable, "-m", "locust"]
    assert command[command.index("-f") + 1] == str(LOCUSTFILE)
    assert Path(command[command.index("-f") + 1]).is_absolute()
    assert LOCUSTFILE.is_file()
    assert "--headless" in command
    assert command[command.index("--users") + 1] == "3"
    assert command[command.index("--spawn-rate") + 1] == "1.5"
    assert command[command.index("--run-time") + 1] == "5s"  # rounded up, never short
    assert command[command.index("--host") + 1] == "http://127.0.0.1:8000"
    assert command[command.index("--exit-code-on-error") + 1] == "0"
    assert command[command.index("--stop-timeout") + 1] == "5s"


def test_locust_env_names_the_config_and_drops_locust_settings(tmp_path: Path) -> None:
    base = {"PATH": "/bin", "LOCUST_USERS": "999", "PYTHONPATH": "/elsewhere"}
    env = build_locust_env(tmp_path / "load.json", base)

    assert env[CONFIG_ENV_VAR] == str((tmp_path / "load.json").resolve())
    assert "LOCUST_USERS" not in env
    assert env["PATH"] == "/bin"
    root, rest = env["PYTHONPATH"].split(":", 1)
    assert (Path(root) / "harness" / "load" / "locustfile.py").is_file()
    assert rest == "/elsewhere"


def test_validators_round_trip_from_the_scenario_model() -> None:
    # The load config carries harness.scenario's validator models unchanged.
    config = make_config(validators=()).to_json()
    data = json.loads(config)
    data["validators"] = [
        {"type": "json_field", "field": "answer"},
        {"type": "contains", "text": "p1"},
    ]
    parsed = LoadConfig.from_dict(data)
    assert parsed.validators == (
        JsonFieldValidator(field="answer", non_empty=True),
        ContainsValidator(text="p1"),
    )
    assert LoadConfig.from_json(parsed.to_json()) == parsed
