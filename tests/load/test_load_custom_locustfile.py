"""load.locustfile: the user's own User classes send the load and every request they make
through self.client becomes a requests.jsonl row, with X-Request-Id and traceparent injected
(so provider calls join); and offline validation of the key, without running the file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_load_traceparent import TRACEPARENT, header_recorder

from harness.cli import cli
from harness.load import LoadConfig, build_locust_command, build_locust_env, read_records
from harness.load.runfile import write_run_locustfile
from harness.scenario.locustfile_checks import locustfile_problems

HERE = Path(__file__).resolve().parent
USERS = HERE / "locustfiles" / "two_users.py"


def test_the_users_own_classes_send_and_every_request_is_recorded_with_ids(
    tmp_path: Path,
) -> None:
    with header_recorder() as (url, seen):
        config = LoadConfig.from_dict(
            {
                "host": url,
                "users": 2,
                "spawn_rate": 10,
                "run_time_s": 3,
                "requests_file": str(tmp_path / "requests.jsonl"),
                "stop_timeout_s": 1,
                "locustfile": str(USERS),
            }
        )
        config_path = tmp_path / "load_config.json"
        config.write(config_path)
        runfile = write_run_locustfile(tmp_path, config, None)
        result = subprocess.run(
            build_locust_command(config_path, config, locustfile=runfile),
            env=build_locust_env(config_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(read_records(tmp_path / "requests.jsonl"))
    names = {row.name for row in rows}
    assert names == {"http ask", "fast ask"}, names  # both user classes, no brownout user
    assert all(row.ok and row.status == 200 and row.bytes > 0 for row in rows)
    by_id = {h["x-request-id"]: h for h in seen}
    assert len(by_id) == len(seen)  # a fresh id per request
    assert {row.request_id for row in rows} <= set(by_id)  # each row's id is the one sent
    for row in rows:
        match = TRACEPARENT.match(by_id[row.request_id]["traceparent"])
        assert match and match[1] == row.request_id
        assert 0 < row.latency_ms < 5000 and row.t_end >= row.t_start


def problems(tmp_path: Path, name: str, text: str | None) -> list[str]:
    if text is not None:
        (tmp_path / name).write_text(text)
    return locustfile_problems(name, tmp_path)


def test_the_locustfile_is_checked_offline_without_running_it(tmp_path: Path) -> None:
    assert locustfile_problems(str(USERS), HERE) == []
    assert "no such file" in problems(tmp_path, "missing.py", None)[0]
    assert "expected a Python file" in problems(tmp_path, "users.txt", "x = 1\n")[0]
    broken = problems(tmp_path, "broken.py", "class A(:\n")[0]
    assert re.search(r"broken\.py:1:\d+: not valid Python", broken), broken
    # Never executed: a file that would exit (or worse) at import is only parsed.
    no_user = "import sys\nsys.exit(3)\nclass Helper:\n    pass\n"
    assert "defines no Locust User class" in problems(tmp_path, "none.py", no_user)[0]
    abstract = "from locust import HttpUser\nclass Base(HttpUser):\n    abstract = True\n"
    assert "defines no Locust User class" in problems(tmp_path, "abstract.py", abstract)[0]
    derived = abstract + "class Mine(Base):\n    pass\n"
    assert problems(tmp_path, "derived.py", derived) == []
    assert (
        problems(tmp_path, "dotted.py", "import locust\nclass U(locust.FastHttpUser): ...\n") == []
    )


@pytest.mark.parametrize(
    ("load", "message"),
    [
        ("  locustfile: nowhere.py\n", "load.locustfile: locustfile nowhere.py: no such file"),
        (
            "  model: open\n  rate: 5\n  locustfile: users.py\n",
            "load.locustfile: a locustfile's users set their own pace",
        ),
        (
            "  locustfile: users.py\n  request:\n    path: /x\n",
            "load.request: the locustfile's users send their own requests",
        ),
        (
            "  locustfile: users.py\nrecord_bodies: true\n",
            "record_bodies: bodies are recorded for brownout's own requests, not a "
            "load.locustfile's",
        ),
    ],
)
def test_validate_reports_the_key_at_its_line(tmp_path: Path, load: str, message: str) -> None:
    (tmp_path / "users.py").write_text(USERS.read_text())
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: custom\nduration: 10s\nload:\n" + load + "providers:\n  openai: {}\n"
        "sut:\n  url: http://127.0.0.1:9\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert message in result.output, result.output
    assert re.search(r"s\.yaml:\d+:\d+", result.output), result.output


def test_the_resolved_scenario_in_the_run_directory_loads_back(tmp_path: Path) -> None:
    """The analysis reloads the run directory's scenario.yaml: the locustfile (and a dataset)
    must still be found from there, and the defaults of the keys a locustfile excludes must not
    be written as if given."""
    import yaml

    from harness.scenario import load_scenario

    source = tmp_path / "src"
    source.mkdir()
    (source / "users.py").write_text(USERS.read_text())
    scenario_file = source / "s.yaml"
    scenario_file.write_text(
        "name: custom\nduration: 10s\nload:\n  locustfile: users.py\n"
        "providers:\n  openai: {}\nsut:\n  url: http://127.0.0.1:9\n"
    )
    scenario = load_scenario(scenario_file)
    resolved = scenario.model_copy(update={"load": scenario.load.with_files_from(source)})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(resolved.to_yaml_data()))
    again = load_scenario(run_dir / "scenario.yaml")
    assert again.load.locustfile == str((source / "users.py").resolve())
