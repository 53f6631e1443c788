"""``--workers N``: N processes serving one port, as one provider.

A single Python process is one core; a mock driven harder than that becomes the bottleneck of
the very test it serves. With workers, the parent binds N listening sockets to one port with
``SO_REUSEPORT`` (the kernel spreads incoming connections over them), creates the shared state
(``core.shared``: faults, their counters, rate-limit buckets, the capacity queue), then forks N
workers, each serving one socket with its own event loop. All of them append to the one journal
(each line is one ``write`` on an ``O_APPEND`` file, which the kernel never interleaves).

The parent prints the ready line once every worker is serving, forwards SIGTERM/SIGINT to them
and exits 0 after they stopped. A worker that dies on its own ends the whole mock (exit 3): a
provider silently missing part of its capacity would skew every figure, and the orchestrator
reports a dead component instead.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from types import FrameType

from mock_providers.app import MockApp, MockConfig
from mock_providers.core.shared import SharedState
from mock_providers.core.wire import reseed_ids
from mock_providers.server import GRACEFUL_SHUTDOWN_S, bind, build_server, tune_gc, url_of

__all__ = ["READY_TIMEOUT_S", "serve_workers"]

READY_TIMEOUT_S = 30.0
EXIT_WORKER_DIED = 3


def serve_workers(
    config: MockConfig,
    host: str,
    port: int,
    workers: int,
    on_ready: Callable[[str], None] | None,
    log_level: str,
) -> None:
    """Serve with ``workers`` processes until SIGTERM/SIGINT (then return: exit 0); a worker
    that dies first makes the mock exit with status 3."""
    shared = SharedState(workers)
    socks = [bind(host, port, reuse_port=True)]
    real_port = socks[0].getsockname()[1]
    try:
        socks += [bind(host, real_port, reuse_port=True) for _ in range(workers - 1)]
    except OSError:
        for sock in socks:
            sock.close()
        raise
    url = url_of(socks[0])
    ready_r, ready_w = os.pipe()
    tune_gc()  # frozen before the fork: the workers share those pages
    pids: list[int] = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(ready_r)
                for other, sock in enumerate(socks):
                    if other != index:
                        sock.close()
                code = _worker(config, shared, index, socks[index], ready_w, log_level)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        pids.append(pid)
    for sock in socks:
        sock.close()  # each socket now belongs to its worker alone
    os.close(ready_w)
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    try:
        if not _wait_ready(ready_r, workers, pids, stopping):
            _stop_all(pids)
            raise OSError(f"the {workers} workers did not all start")
        if on_ready is not None:
            on_ready(url)
        died = _supervise(pids, stopping)
    finally:
        os.close(ready_r)
    _stop_all(pids)
    if died:
        print(f"error: mock worker(s) {died} exited on their own", file=sys.stderr)
        sys.exit(EXIT_WORKER_DIED)


def _worker(
    config: MockConfig, shared: SharedState, index: int, sock: object, ready_w: int, log_level: str
) -> int:
    _die_with_parent()
    reseed_ids()
    app = MockApp(config, shared, index)

    def ready() -> None:
        os.write(ready_w, b"1")
        os.close(ready_w)

    server = build_server(app, ready, log_level)
    try:
        server.run(sockets=[sock])  # type: ignore[list-item]
    finally:
        app.close()
    return 0


def _die_with_parent() -> None:
    """SIGTERM when the parent dies, even by SIGKILL (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)


def _wait_ready(ready_r: int, workers: int, pids: list[int], stopping: list[int]) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_S
    seen = 0
    while seen < workers and not stopping:
        left = deadline - time.monotonic()
        if left <= 0 or _exited(pids):
            return False
        readable, _, _ = select.select([ready_r], [], [], min(left, 0.2))
        if readable:
            chunk = os.read(ready_r, workers)
            if not chunk:
                return seen >= workers
            seen += len(chunk)
    return seen >= workers


def _exited(pids: list[int]) -> list[int]:
    gone = []
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                gone.append(pid)
    return gone


def _supervise(pids: list[int], stopping: list[int]) -> list[int]:
    """Wait for a stop signal (then: []) or a worker's death (then: the dead pids)."""
    while not stopping:
        died = _exited(pids)
        if died:
            for pid in died:
                pids.remove(pid)
            return died
        time.sleep(0.1)
    return []


def _stop_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACEFUL_SHUTDOWN_S + 2
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [pid for pid in left if pid not in _exited([pid])]
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
