"""docker-compose.yml against the code, since CI has no Docker engine: the services exist and
reference each other correctly, the Toxiproxy image is the version the embedded proxy matches,
its flags are toxiproxy-server's, and brownout's command and environment point at it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from harness.faultproxy import main as faultproxy_main
from harness.faultproxy.api import TOXIPROXY_VERSION
from tests.docs.test_docs_snippets import check_shell, commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]


def script_of(service: dict[str, Any]) -> str:
    command = service["command"]
    if isinstance(command, str):
        return command
    if command[:2] in (["sh", "-c"], ["bash", "-c"]):
        return str(command[2])
    return shlex.join(command)


def test_the_stack_has_toxiproxy_and_brownout() -> None:
    assert {"toxiproxy", "brownout"} <= set(SERVICES)
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", []):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
        # Everything stays on loopback, as in an embedded run.
        assert service.get("network_mode") == "host", name
        assert "ports" not in service, f"{name}: host networking publishes no ports"


def test_toxiproxy_is_the_real_image_at_the_version_the_embedded_proxy_matches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    toxiproxy = SERVICES["toxiproxy"]
    assert toxiproxy["image"] == f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}"
    # The same flags parse with the embedded server, which mirrors toxiproxy-server's.
    assert faultproxy_main([*toxiproxy["command"], "-version"]) == 0
    assert TOXIPROXY_VERSION in capsys.readouterr().out


def toxiproxy_api() -> str:
    flags = SERVICES["toxiproxy"]["command"]
    host = flags[flags.index("-host") + 1]
    port = flags[flags.index("-port") + 1]
    assert host == "127.0.0.1"
    return f"http://{host}:{port}"


def test_brownout_uses_that_toxiproxy_and_runs_a_real_command() -> None:
    brownout = SERVICES["brownout"]
    assert "toxiproxy" in brownout["depends_on"]
    assert brownout["environment"]["TOXIPROXY_URL"] == toxiproxy_api()
    assert urlsplit(brownout["environment"]["TOXIPROXY_URL"]).hostname == "127.0.0.1"
    assert ".:/src" in brownout["volumes"] and brownout["working_dir"] == "/src"
    script = script_of(brownout)
    check_shell("docker-compose.yml: brownout", script)  # subcommands, options and files exist
    assert any(c[:2] == ["brownout", "run"] for c in commands(script))


def test_every_other_service_runs_a_brownout_command_that_exists() -> None:
    for name, service in SERVICES.items():
        if name == "toxiproxy" or "command" not in service:
            continue
        check_shell(f"docker-compose.yml: {name}", script_of(service))
