"""Running a real Locust subprocess from a LoadConfig, for the load-driver tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.load import LoadConfig, build_locust_command, build_locust_env


@dataclass(frozen=True)
class LocustRun:
    returncode: int
    stdout: str
    stderr: str


RunLocust = Callable[[LoadConfig], LocustRun]


def run_locust_in(directory: Path, config: LoadConfig) -> LocustRun:
    """Write ``config`` into ``directory`` and run Locust on it to completion."""
    config_path = directory / f"load-{len(list(directory.glob('load-*.json')))}.json"
    config.write(config_path)
    result = subprocess.run(
        build_locust_command(config_path, config),
        env=build_locust_env(config_path),
        capture_output=True,
        text=True,
        timeout=config.run_time_whole_s + config.stop_timeout_s + 60,
    )
    return LocustRun(result.returncode, result.stdout, result.stderr)
