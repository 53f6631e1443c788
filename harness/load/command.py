"""How the orchestrator starts the Locust subprocess: its argv and its environment.

Locust runs as ``python -m locust`` in its own process because importing it monkey-patches the
interpreter with gevent; this module only builds the command line and never imports Locust.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from harness.load.config import CONFIG_ENV_VAR, LoadConfig

__all__ = [
    "LOCUSTFILE",
    "build_locust_command",
    "build_locust_env",
    "build_worker_command",
    "locustfile_argument",
]

#: The locustfile, by absolute path: Locust imports it as a file, not as harness.load.locustfile.
LOCUSTFILE: Final = Path(__file__).resolve().with_name("locustfile.py")

# The directory that holds the `harness` package, so the locustfile can import harness.load.*
# even when brownout runs from a checkout that is not pip-installed.
_PACKAGE_ROOT: Final = Path(__file__).resolve().parents[2]


def build_locust_command(
    config_path: Path,
    config: LoadConfig,
    *,
    master_port: int | None = None,
    master_host: str = "127.0.0.1",
    locustfile: Path | None = None,
    expect_workers_max_wait_s: float | None = None,
) -> list[str]:
    """The argv of a headless Locust run of ``config``.

    With ``master_port``, the process is a Locust master bound to ``master_host:master_port``
    that waits for ``config.workers`` workers (see build_worker_command), at most
    ``expect_workers_max_wait_s`` when given, and sends no request itself; without it, one
    local process does everything. ``locustfile`` is the generated run locustfile
    (harness.load.runfile), which a remote worker downloads; default: brownout's own.

    ``config_path`` is where ``config`` has been written; it reaches the locustfile through the
    environment (see build_locust_env), and is accepted here so callers cannot build a command
    for a config they have not written. Request failures are the SUT's, not the load driver's,
    so ``--exit-code-on-error 0`` keeps Locust's exit status about Locust itself.
    """
    del config_path  # carried by the environment; see the docstring
    distributed: list[str] = []
    if master_port is not None:
        distributed = [
            "--master",
            "--master-bind-host",
            master_host,
            "--master-bind-port",
            str(master_port),
            "--expect-workers",
            str(config.workers),
        ]
        if expect_workers_max_wait_s is not None:
            distributed += ["--expect-workers-max-wait", f"{math.ceil(expect_workers_max_wait_s)}"]
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfile_argument(locustfile or LOCUSTFILE, config),
        "--headless",
        "--users",
        str(config.users),
        "--spawn-rate",
        f"{config.spawn_rate:g}",
        "--run-time",
        f"{config.run_time_whole_s}s",
        "--host",
        config.host,
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--stop-timeout",
        f"{math.ceil(config.stop_timeout_s)}s",
        "--loglevel",
        "WARNING",
        *distributed,
    ]


def locustfile_argument(locustfile: Path, config: LoadConfig) -> str:
    """Locust's ``-f``: brownout's (or the run's generated) locustfile, then the user's own
    when ``load.locustfile`` is set; Locust loads both and a remote worker downloads both."""
    if config.locustfile is None:
        return str(locustfile)
    return f"{locustfile},{config.locustfile}"


def build_worker_command(
    master_host: str, master_port: int, *, locustfile: Path | str | None = None
) -> list[str]:
    """The argv of a Locust worker that joins the master at ``master_host:master_port``.

    The worker reads the same LoadConfig as its master (the same generated run locustfile, or
    through the environment), so both agree on the schedule; the master decides when it
    starts and how many users each runs. ``locustfile="-"`` downloads the master's locustfile
    over Locust's messaging: what a remote ``brownout worker`` does.
    """
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile or LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--loglevel",
        "WARNING",
    ]


def build_locust_env(
    config_path: Path | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for the Locust subprocess.

    Starts from ``base`` (default: this process's environment), drops ``LOCUST_*`` variables so a
    developer's shell settings cannot silently change the run, names the config file in
    ``BROWNOUT_LOAD_CONFIG`` (a remote worker, ``None``, has none: its config comes from the
    master) and puts the package root on ``PYTHONPATH``.
    """
    env = {
        key: value
        for key, value in (os.environ if base is None else base).items()
        if not key.startswith("LOCUST_")
    }
    env.pop(CONFIG_ENV_VAR, None)
    if config_path is not None:
        env[CONFIG_ENV_VAR] = str(Path(config_path).resolve())
    paths = [str(_PACKAGE_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env
