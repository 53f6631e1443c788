"""Running a mock: on uvicorn (httptools, uvloop) in this process, or in a background thread.

The server binds its own socket (port 0 picks a free one) so the real port is known before the
ready line is printed, and it is the only place with a handle on client sockets, which the
`connection_reset` fault needs to send a real RST. SIGTERM/SIGINT shut down gracefully with exit
status 0 (uvicorn's own handler re-raises the signal after shutdown; ours does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import struct
import threading
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from mock_providers.app import MockApp, MockConfig
from mock_providers.core.call import Aborter
from mock_providers.core.limits import GuardedProtocol

READY_PREFIX = "BROWNOUT_READY"
GRACEFUL_SHUTDOWN_S = 5
# Young-generation threshold for a mock that owns its process (Python's default is 700).
GC_YOUNG_THRESHOLD = 20_000


class _Server(uvicorn.Server):
    """uvicorn.Server that reports readiness and does not re-raise the stop signal."""

    def __init__(
        self, config: uvicorn.Config, on_ready: Callable[[], None] | None, app: MockApp
    ) -> None:
        super().__init__(config)
        self._on_ready = on_ready
        self._app = app
        self._background: asyncio.Future[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._background = asyncio.ensure_future(self._app.background())
        if self.started and self._on_ready is not None:
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._background is not None:
            self._background.cancel()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on host:port (port 0: the OS picks a free one); ``reuse_port``:
    one of several on the same port (``SO_REUSEPORT``, ``--workers``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _aborter(server: uvicorn.Server) -> Aborter:
    def abort(client: Any) -> bool:
        if client is None:
            return False
        wanted = tuple(client)
        for proto in list(server.server_state.connections):
            if getattr(proto, "client", None) == wanted:
                transport: Any = proto.transport
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Linger 0: close() sends RST instead of FIN, like a real reset.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
                return True
        return False

    return abort


def build_server(
    app: MockApp, on_ready: Callable[[], None] | None = None, log_level: str = "warning"
) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=GuardedProtocol,
        lifespan="off",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        backlog=4096,
        proxy_headers=False,
        server_header=False,
        date_header=True,
    )
    server = _Server(config, on_ready, app)
    app.aborter = _aborter(server)
    return server


def tune_gc() -> None:
    """Keep the cyclic garbage collector from pausing every stream at once.

    A call leaves no cyclic garbage (tests/mock_providers check it), so the collector mostly
    re-scans live objects: with the default thresholds, the objects of a thousand open streams
    get promoted to the oldest generation and a full collection stalls the event loop for tens
    of milliseconds, which shows as a frame gap on every stream. Freezing what start-up
    allocated (never garbage) and collecting the young generation less often keeps the passes
    rare and short. Only for a process the mock owns (`serve`), never for an embedding one.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def serve(
    config: MockConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until SIGTERM/SIGINT; `on_ready(url)` runs once the socket accepts calls (several
    processes on one port: ``mock_providers.workers.serve_workers``)."""
    sock = bind(host, port)
    app = MockApp(config)
    url = url_of(sock)
    server = build_server(app, (lambda: on_ready(url)) if on_ready else None, log_level)
    tune_gc()
    try:
        server.run(sockets=[sock])
    finally:
        app.close()
        sock.close()


class MockServer:
    """A mock running in a background thread of this process (for tests and embedding).

    ``with MockServer(MockConfig("openai", journal=path)) as mock: use mock.url``
    """

    def __init__(self, config: MockConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config
        self.app = MockApp(config)
        self._sock = bind(host, port)
        self.url = url_of(self._sock)
        self._ready = threading.Event()
        self._server = build_server(self.app, self._ready.set)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # surfaced by start()/stop(), not lost in the thread
            self._error = exc
            self._ready.set()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start serving; returns the base URL once it accepts connections."""
        self._thread = threading.Thread(
            target=self._run, name=f"mock-{self.config.name}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"mock {self.config.name} not ready after {timeout_s}s")
        if self._error is not None:
            raise RuntimeError(f"mock {self.config.name} failed to start") from self._error
        return self.url

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful stop: finish in-flight calls (up to the grace period), close the journal."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.app.close()
        self._sock.close()

    def __enter__(self) -> MockServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
