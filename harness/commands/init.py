"""``brownout init``: write a starter scenario for the user's own service.

Everything comes from flags, so CI and scripts never block on a question; on a terminal it asks
only for what no flag gave (``--yes`` accepts the defaults). The file it writes is validated
with the same loader as ``brownout validate`` before it is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from harness.commands.common import fail
from harness.errors import ScenarioError, UsageError

__all__ = ["init"]

# The variables each official SDK reads (AzureOpenAI: endpoint and key; google-genai: its
# base URL and key).
_BASE_URL_ENV = {
    "openai": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "azure": "AZURE_OPENAI_ENDPOINT",
    "gemini": "GOOGLE_GEMINI_BASE_URL",
}
#: The OpenAI SDK's base URL includes /v1; the others add their own paths.
_BASE_URL_SUFFIX = {"openai": "/v1", "anthropic": "", "azure": "", "gemini": ""}
_KEY_ENV = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}
#: AzureOpenAI also needs an api-version; the mock accepts any dated one.
_EXTRA_ENV = {"azure": '    OPENAI_API_VERSION: "2024-10-21"\n'}
_FLAVOURS = list(_BASE_URL_ENV)
FIXED_PROXY_PORT = 18080


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def starter_scenario(
    *,
    name: str,
    flavour: str,
    base_url_env: str,
    command: str | None,
    url: str | None,
    path: str,
    health: str,
    proxy_port: int,
) -> str:
    suffix = _BASE_URL_SUFFIX[flavour]
    if url is not None:
        sut = (
            f"sut:\n"
            f"  # Already running: start it with {base_url_env}=http://127.0.0.1:{proxy_port}"
            f"{suffix}\n"
            f"  # so its provider calls go through brownout's fault proxy.\n"
            f"  url: {_q(url)}\n"
            f"  health: {_q(health)}\n"
            f"  metrics: null              # or the path of its Prometheus metrics\n"
        )
        listen = (
            f"\n    listen: 127.0.0.1:{proxy_port}   # fixed, so the service can be pointed here"
        )
    else:
        sut = (
            f"sut:\n"
            f"  # brownout starts it; {{port}} is a free port it picks.\n"
            f"  command: {_q(command or '')}\n"
            f"  env:\n"
            f"    {base_url_env}: {_q('{proxy.llm.url}' + suffix)}\n"
            f"    {_KEY_ENV[flavour]}: test-key\n"
            f"{_EXTRA_ENV.get(flavour, '')}"
            f"  health: {_q(health)}\n"
            f"  metrics: null              # or the path of its Prometheus metrics\n"
        )
        listen = ""
    return f"""# A starter resilience scenario, written by `brownout init`. Check it with
#   brownout validate {{file}}
# and run it with
#   brownout run {{file}}
# Reference: docs/scenarios.md; fault types and parameters: brownout faults
name: {name}
seed: 1
duration: 60s
warmup: 5s

load:
  users: 4
  wait: 100ms
  timeout: 20s
  request:
    method: POST
    path: {_q(path)}
    json: {{question: "What does a brownout look like?"}}

providers:
  llm: {{flavour: {flavour}}}           # a mock {flavour} provider

proxies:
  llm:
    upstream: llm{listen}

{sut}
faults:
  - name: provider-errors
    target: provider/llm
    type: error
    params: {{status: 500}}
    probability: 0.5
    at: 20s
    for: 20s
  - name: slow-network
    target: proxy/llm
    type: latency
    attributes: {{latency: 300}}
    at: 20s
    for: 20s

slos:
  - {{metric: error_rate, phase: fault, max: 0.05}}
  - {{metric: retry_amplification, phase: fault, max: 1.5}}
  - {{metric: error_rate, phase: recovery, max: 0.01}}
"""


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("brownout.yaml"),
    show_default=True,
    help="Where to write the scenario.",
)
@click.option("--name", default=None, help="Scenario name [default: the output file's stem].")
@click.option(
    "--command",
    "command",
    default=None,
    help="How brownout starts your service, with {port} for the port, e.g. "
    "'python -m myservice --port {port}'.",
)
@click.option("--url", default=None, help="Instead of --command: the URL of a running service.")
@click.option(
    "--flavour",
    type=click.Choice(_FLAVOURS),
    default=None,
    help="The provider API your service calls [default: openai].",
)
@click.option(
    "--base-url-env",
    default=None,
    help="The environment variable your service reads its provider base URL from "
    "[default: OPENAI_BASE_URL or ANTHROPIC_BASE_URL].",
)
@click.option("--path", default=None, help="The endpoint the load calls [default: /ask].")
@click.option("--health", default="/healthz", show_default=True, help="Health-check path.")
@click.option(
    "--proxy-port",
    type=click.IntRange(1, 65535),
    default=FIXED_PROXY_PORT,
    show_default=True,
    help="With --url: the fixed port the fault proxy listens on.",
)
@click.option("-y", "--yes", is_flag=True, help="Ask nothing; use the defaults.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(
    output: Path,
    name: str | None,
    command: str | None,
    url: str | None,
    flavour: str | None,
    base_url_env: str | None,
    path: str | None,
    health: str,
    proxy_port: int,
    yes: bool,
    force: bool,
) -> None:
    """Write a starter scenario for your own service (asks only on a terminal, never in CI).

    Example: brownout init --command 'python app.py --port {port}' --flavour openai
    """
    from harness.scenario import parse_scenario

    if command is not None and url is not None:
        fail(UsageError("give --command or --url, not both"))
    ask = not yes and sys.stdin.isatty() and sys.stdout.isatty()
    if ask:
        if command is None and url is None:
            command = click.prompt(
                "Command that starts your service ({port} = the port brownout picks)",
                default="python app.py --port {port}",
            )
        flavour = flavour or click.prompt(
            "Provider API it calls", type=click.Choice(_FLAVOURS), default="openai"
        )
    flavour = flavour or "openai"
    if ask and base_url_env is None:
        base_url_env = click.prompt(
            "Environment variable it reads the provider base URL from",
            default=_BASE_URL_ENV[flavour],
        )
    if ask and path is None:
        path = click.prompt("Endpoint the load calls", default="/ask")
    if command is None and url is None:
        command = "{python} app.py --port {port}"
    if output.exists() and not force:
        fail(UsageError(f"{output} exists; pass --force to overwrite it"))
    text = starter_scenario(
        name=name or _name_from(output),
        flavour=flavour,
        base_url_env=base_url_env or _BASE_URL_ENV[flavour],
        command=command,
        url=url,
        path=path or "/ask",
        health=health,
        proxy_port=proxy_port,
    ).replace("{file}", str(output))
    try:
        parse_scenario(text, str(output))
    except ScenarioError as exc:
        fail(UsageError(f"these flags make an invalid scenario:\n{exc}"))
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(UsageError(f"cannot write {output}: {exc}"))
    click.echo(
        f"brownout: wrote {output}; next: brownout validate {output} && brownout run {output}"
    )


def _name_from(output: Path) -> str:
    stem = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in output.stem)
    return stem.lstrip("-._") or "my-service"
