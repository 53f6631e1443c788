"""``brownout worker --master HOST[:PORT]``: send part of a run's load from another machine.

It runs a Locust worker that downloads the run's generated locustfile from the master over
Locust's own messaging (``locust --worker -f -``): the load config and dataset rows come with
it (harness.load.runfile), and the worker ships its request records back to the master
(harness.load.relay), so the two machines share no files. The worker runs in a private
temporary directory, removed when it ends; secrets named as ``${VAR}`` in the scenario's
headers must be set in this machine's environment, since they are never sent over the wire.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

import click

from harness.errors import UsageError

__all__ = ["parse_master", "worker"]

DEFAULT_PORT = 5557
_ADDRESS = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.\-_]+))(?::(?P<port>\d+))?$"
)


def parse_master(text: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [V6] or [V6]:PORT; the port defaults to Locust's 5557."""
    match = _ADDRESS.match(text.strip())
    if match is None:
        raise UsageError(f"--master: expected HOST[:PORT] (or [IPv6][:PORT]), found {text!r}")
    port = int(match["port"] or DEFAULT_PORT)
    if not 1 <= port <= 65535:
        raise UsageError(f"--master: port {port} is out of range (1-65535)")
    return match["v6"] or match["host"], port


@click.command()
@click.option(
    "--master",
    "master",
    required=True,
    metavar="HOST[:PORT]",
    help="The run's Locust master: the machine of 'brownout run --remote-workers K' "
    "(port 5557 unless --master-bind said otherwise).",
)
def worker(master: str) -> None:
    """Join a run's load from this machine as a Locust worker.

    Start the run with 'brownout run SCENARIO --remote-workers K --master-bind 0.0.0.0:5557'
    (it waits for K workers), then 'brownout worker --master RUN_HOST:5557' on each machine.
    The worker gets the load's config from the master and sends its records back to it; it
    exits when the run's load ends (exit 0) or when it cannot reach the master (exit 1).
    """
    from harness.load import build_locust_env, build_worker_command
    from harness.load.relay import REMOTE_ENV_VAR

    try:
        host, port = parse_master(master)
    except UsageError as exc:
        click.echo(f"brownout: {exc}", err=True)
        sys.exit(exc.exit_code)
    scratch = Path(tempfile.mkdtemp(prefix="brownout-worker-"))
    env = build_locust_env(None)
    env[REMOTE_ENV_VAR] = "1"
    # Locust writes the downloaded locustfile into the temp dir: keep it private to this run.
    env["TMPDIR"] = str(scratch)
    child = subprocess.Popen(build_worker_command(host, port, locustfile="-"), env=env, cwd=scratch)

    def forward(signum: int, _frame: FrameType | None) -> None:
        # Locust's worker leaves cleanly on SIGTERM (it tells the master it quits).
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        code = child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(code if code >= 0 else 128 - code)
