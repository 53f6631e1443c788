"""Run an ASGI app the way brownout starts a SUT: bind 127.0.0.1 (port 0 picks a free one),
print ``BROWNOUT_READY <url>`` once the socket accepts connections, stop cleanly on SIGTERM.

One implementation for every example, so each service's ``app.py`` is only its options.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn

READY_PREFIX = "BROWNOUT_READY"


class _ReadyServer(uvicorn.Server):
    """uvicorn, announcing readiness on stdout once the socket accepts connections."""

    def __init__(self, config: uvicorn.Config, ready_url: str) -> None:
        super().__init__(config)
        self.ready_url = ready_url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            print(f"{READY_PREFIX} {self.ready_url}", flush=True)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    # uvicorn handles SIGTERM/SIGINT while serving and re-raises the signal once it has shut
    # down; ending with status 0 tells the supervisor the stop was clean.
    raise SystemExit(0)


def serve(app: Any, host: str, port: int, name: str) -> int:
    """Serve ``app`` until SIGTERM/SIGINT; 3 when the address cannot be bound (a component
    that cannot run), 0 after a clean stop."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(signal.SIGINT, _exit_quietly)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        print(f"{name}: cannot bind {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 3
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    _ReadyServer(config, f"http://{shown}:{bound}").run(sockets=[sock])
    return 0


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        import argparse

        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value
