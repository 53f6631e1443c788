"""Command line of the embedded fault proxy, Toxiproxy-server style.

``python -m harness.faultproxy -host 127.0.0.1 -port 0 [-config populate.json]`` (also
``--host``/``--port`` and ``-flag=value``). Once the API listens it prints exactly one line,
``BROWNOUT_READY http://127.0.0.1:<port>``, which the orchestrator's supervisor waits for;
logs go to stderr so stdout stays that one line. SIGINT/SIGTERM stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys

from harness.faultproxy.api import TOXIPROXY_VERSION
from harness.faultproxy.server import FaultProxyServer

__all__ = ["main"]

log = logging.getLogger("harness.faultproxy")

_BOOL_FLAGS = ("proxy-metrics", "runtime-metrics", "version")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_EXIT_USAGE = 2
_EXIT_INFRASTRUCTURE = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brownout toxiproxy",
        description="Embedded Toxiproxy-compatible fault proxy (Toxiproxy "
        f"{TOXIPROXY_VERSION} HTTP API).",
        allow_abbrev=False,
    )
    parser.add_argument("-host", "--host", default="127.0.0.1", help="API address to bind")
    parser.add_argument("-port", "--port", type=int, default=8474, help="API port (0 = any)")
    parser.add_argument("-config", "--config", help="JSON file in the /populate body format")
    parser.add_argument(
        "-seed",
        "--seed",
        type=int,
        help="seed of every random decision: toxicity rolls, latency jitter, slicer sizes "
        "(default: the clock, as in Toxiproxy)",
    )
    parser.add_argument(
        "-proxy-metrics",
        "--proxy-metrics",
        action="store_true",
        help="serve GET /metrics with per-proxy byte counters",
    )
    parser.add_argument(
        "-runtime-metrics",
        "--runtime-metrics",
        action="store_true",
        help="accepted for compatibility; enables GET /metrics",
    )
    parser.add_argument(
        "-version", "--version", action="store_true", help="print the version and exit"
    )
    return parser


#: Toxiproxy's LOG_LEVEL words (zerolog) mapped to Python levels; unknown words mean INFO.
_LOG_LEVELS = {
    "panic": logging.CRITICAL,
    "fatal": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
}


def _log_level(word: str) -> int:
    return _LOG_LEVELS.get(word.strip().lower(), logging.INFO)


def _normalise(argv: list[str]) -> list[str]:
    """Go's flag package allows ``-flag=true``/``-flag=false`` for booleans."""
    result: list[str] = []
    for arg in argv:
        name, eq, value = arg.lstrip("-").partition("=")
        if eq and name in _BOOL_FLAGS and arg.startswith("-"):
            if value.lower() in ("1", "t", "true"):
                result.append("-" + name)
            continue
        result.append(arg)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the fault proxy until SIGINT/SIGTERM; return the process exit code.

    Meant as a process entry point: it runs its own event loop and handles SIGINT/SIGTERM
    (after the first one, both stay ignored for the rest of the process).
    """
    try:
        args = _parser().parse_args(_normalise(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else _EXIT_USAGE
    if args.version:
        print(f"brownout faultproxy (toxiproxy-server version {TOXIPROXY_VERSION} compatible)")
        return 0
    logging.basicConfig(
        level=_log_level(os.environ.get("LOG_LEVEL", "info")),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not 0 <= args.port <= 65535:
        log.error("invalid -port %d", args.port)
        return _EXIT_USAGE
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve(args))


def _loop_factory() -> type[asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    loop_class: type[asyncio.AbstractEventLoop] = uvloop.Loop
    return loop_class


async def _serve(args: argparse.Namespace) -> int:
    server = FaultProxyServer(
        args.host, args.port, metrics=args.proxy_metrics or args.runtime_metrics, seed=args.seed
    )
    try:
        await server.start()
    except OSError as err:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, err)
        return _EXIT_INFRASTRUCTURE
    if args.config:
        await server.populate_file(args.config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop(signum: int, frame: object) -> None:
        # The first signal starts a graceful shutdown (bounded: it only closes sockets);
        # later ones are ignored, also through interpreter finalisation, which would
        # otherwise reset the handlers and let a late SIGTERM turn exit 0 into "killed".
        for other in _STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stop.set)

    # Plain handlers rather than loop.add_signal_handler, which the loop removes on close.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, request_stop)
    # Everything loaded so far lives as long as the process: moved out of the collector's
    # reach, the occasional full collection stays short and does not delay latency toxics.
    gc.collect()
    gc.freeze()
    print(f"BROWNOUT_READY {server.url}", flush=True)
    log.info("API listening on %s", server.url)
    try:
        await stop.wait()
    finally:
        await server.stop()
    log.info("stopped")
    return 0
