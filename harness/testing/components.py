"""Real brownout components for tests: a mock LLM provider and the embedded fault proxy, each a
child process on 127.0.0.1 that a test programs in a line and that stops when the ``with``
block (or the pytest fixture) ends.

Usable without pytest (``with MockProvider() as mock: ...``), as pytest-httpserver's server is.
The processes are started through the orchestrator's own supervisor, so they get the same ready
line protocol, logs and SIGTERM-then-SIGKILL stop as in ``brownout run``.
"""

from __future__ import annotations

import abc
import contextlib
import itertools
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from harness.run.events import EventLog
from harness.run.provider_control import ProviderControl
from harness.run.supervisor import Child, Supervisor, wait_http_ok
from harness.toxiproxy import ToxiproxyClient

__all__ = ["FaultProxy", "MockProvider", "ProxyHandle", "ServiceProcess"]

READY_TIMEOUT_S = 30.0
#: Fault keywords that shape *when* a fault hits rather than *what* it does; they travel beside
#: ``probability`` in the control API, every other keyword is one of the fault's ``params``.
SCHEDULE_KEYS = frozenset({"first", "every", "burst", "ramp", "header_only"})
_names = itertools.count(1)


class _Process:
    """One supervised child and the directory holding its log. Its URL comes from its ready
    line, or is ``url`` when given (a child told its port that prints no ready line)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: Path | None,
        *,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._tmp = None if log_dir else tempfile.TemporaryDirectory(prefix="brownout-")
        self.log_dir = log_dir or Path(self._tmp.name if self._tmp else ".")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._events = EventLog(self.log_dir / f"{name}-events.jsonl")
        self._supervisor = Supervisor(self.log_dir, self._events)
        try:
            self._child: Child = self._supervisor.start(name, argv, env=env, cwd=cwd)
            self.url = url or self._supervisor.wait_ready(self._child, READY_TIMEOUT_S)
        except BaseException:
            self.stop()  # no process, log or temporary directory outlives a failed start
            raise

    @property
    def log_path(self) -> Path:
        return self._child.log_path

    def health(self, path: str) -> None:
        """Wait until ``path`` answers 2xx; stop the child if it never does."""
        try:
            wait_http_ok(self.url.rstrip("/") + path, READY_TIMEOUT_S, child=self._child)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._supervisor.stop_all()
        self._events.close()
        if self._tmp is not None:
            self._tmp.cleanup()


class _Component(abc.ABC):
    """What every component shares: ``with`` starts it and stops it, however the block ends."""

    @abc.abstractmethod
    def start(self) -> Self:
        """Start the process (a no-op when it runs already) and return the component."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the process and remove what it left; safe to call twice."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MockProvider(_Component):
    """A mock OpenAI- (or Anthropic-) compatible provider in its own process.

    Point your service's SDK at ``base_url``; switch faults on for the span of a block::

        with MockProvider("openai") as mock:
            client = openai.OpenAI(base_url=mock.base_url, api_key="test")
            with mock.fault("error", status=500):
                ...  # every call fails with the provider's real 500 body

    ``calls()`` returns the journal (one dict per call received), so a test can count retries.
    """

    def __init__(
        self,
        flavour: Literal["openai", "anthropic", "azure", "gemini"] | str = "openai",
        *,
        seed: int = 0,
        name: str | None = None,
        log_dir: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.flavour = flavour
        self.name = name or flavour
        self._seed = seed
        self._log_dir = log_dir
        self._extra_args = list(extra_args or [])
        self._process: _Process | None = None
        self._control: ProviderControl | None = None
        self._journal_offset = 0

    def start(self) -> Self:
        """Start the process and wait until its health check passes."""
        if self._process is not None:
            return self
        journal_dir = Path(tempfile.mkdtemp(prefix="brownout-journal-"))
        self.journal_path = journal_dir / "provider_calls.jsonl"
        argv = [
            sys.executable,
            "-m",
            "mock_providers",
            self.flavour,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--journal",
            str(self.journal_path),
            "--seed",
            str(self._seed),
            "--name",
            self.name,
            *self._extra_args,
        ]
        try:
            process = _Process(f"mock-{self.name}", argv, self._log_dir)
            process.health("/_brownout/health")
        except BaseException:
            shutil.rmtree(journal_dir, ignore_errors=True)
            raise
        self._process = process
        self._control = ProviderControl(self._process.url)
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            self._process.stop()
            self._process = None
            shutil.rmtree(self.journal_path.parent, ignore_errors=True)

    @property
    def url(self) -> str:
        """The server's root URL, ``http://127.0.0.1:PORT``."""
        return self._running().url

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: what a fault proxy's ``upstream`` takes."""
        parts = urlsplit(self.url)
        return f"{parts.hostname}:{parts.port}"

    @property
    def base_url(self) -> str:
        """What the official SDK's ``base_url`` takes: ``…/v1`` for OpenAI, the root otherwise
        (Anthropic's ``base_url``, ``AzureOpenAI``'s ``azure_endpoint``, google-genai's
        ``http_options.base_url``)."""
        return f"{self.url}/v1" if self.flavour == "openai" else self.url

    def _running(self) -> _Process:
        if self._process is None:
            raise RuntimeError("the mock provider is not started; use it in a with block")
        return self._process

    def _controller(self) -> ProviderControl:
        self._running()
        assert self._control is not None
        return self._control

    # -- faults ------------------------------------------------------------------------------

    def set_fault(
        self, type_: str, *, name: str | None = None, probability: float = 1.0, **params: Any
    ) -> str:
        """Switch a fault on until ``clear_fault(name)``; returns its name. Keywords are the
        fault's parameters (docs/faults.md lists them); ``first``, ``every``, ``burst``,
        ``ramp`` and ``header_only`` are its schedule (``first=2``: only the first 2 calls)."""
        fault_name = name or f"{type_}-{next(_names)}"
        body: dict[str, Any] = {"name": fault_name, "type": type_, "probability": probability}
        body["params"] = {k: v for k, v in params.items() if k not in SCHEDULE_KEYS}
        body.update({k: v for k, v in params.items() if k in SCHEDULE_KEYS})
        self._controller()._call("POST", "/_brownout/faults", json=body, expect=(200, 201))
        return fault_name

    def clear_fault(self, name: str) -> None:
        self._controller().clear_fault(name)

    def clear_faults(self) -> None:
        self._controller().clear_all()

    @contextlib.contextmanager
    def fault(
        self, type_: str, *, name: str | None = None, probability: float = 1.0, **params: Any
    ) -> Iterator[str]:
        """The fault is on inside the ``with`` block and removed when it ends, even on error."""
        fault_name = self.set_fault(type_, name=name, probability=probability, **params)
        try:
            yield fault_name
        finally:
            self.clear_fault(fault_name)

    # -- what the provider saw --------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """``GET /_brownout/stats``: calls, by status, by fault, in flight."""
        return self._controller().stats()

    def calls(self) -> list[dict[str, Any]]:
        """Every call received since ``start`` (or the last ``forget_calls``), oldest first."""
        self._running()
        if not self.journal_path.exists():
            return []
        with self.journal_path.open("rb") as journal:
            journal.seek(self._journal_offset)
            lines = journal.read().decode("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def forget_calls(self) -> None:
        """Start ``calls()`` afresh (the pytest fixture does this between tests)."""
        self._running()
        if self.journal_path.exists():
            self._journal_offset = self.journal_path.stat().st_size


class ProxyHandle:
    """One Toxiproxy proxy: ``url`` is where your service connects instead of the upstream."""

    def __init__(self, client: ToxiproxyClient, name: str, listen: str, upstream: str) -> None:
        self._client = client
        self.name = name
        self.listen = listen
        self.upstream = upstream

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    @contextlib.contextmanager
    def toxic(
        self,
        type_: str,
        *,
        stream: Literal["downstream", "upstream"] = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        **attributes: int,
    ) -> Iterator[str]:
        """A Toxiproxy toxic (``latency``, ``timeout``, ``reset_peer``, …) inside the block;
        keywords are its attributes in Toxiproxy's own names (``latency=300, jitter=50``)."""
        toxic_name = name or f"{type_}-{next(_names)}"
        self._client.add_toxic(
            self.name,
            type_,
            name=toxic_name,
            stream=stream,
            toxicity=toxicity,
            attributes=dict(attributes),
        )
        try:
            yield toxic_name
        finally:
            self._client.remove_toxic(self.name, toxic_name)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The proxy refuses connections inside the block."""
        self._client.update_proxy(self.name, enabled=False)
        try:
            yield
        finally:
            self._client.update_proxy(self.name, enabled=True)


class FaultProxy(_Component):
    """The embedded Toxiproxy-compatible server in its own process (``url`` is its API).

    ``create(name, upstream)`` makes a proxy; ``toxic``/``down`` on it inject network faults::

        with FaultProxy() as toxiproxy:
            proxy = toxiproxy.create("openai", upstream=mock.address)
            with proxy.toxic("latency", latency=300):
                ...
    """

    def __init__(self, *, log_dir: Path | None = None) -> None:
        self._log_dir = log_dir
        self._process: _Process | None = None
        self._client: ToxiproxyClient | None = None

    def start(self) -> Self:
        if self._process is None:
            argv = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
            self._process = _Process("faultproxy", argv, self._log_dir)
            self._process.health("/version")
            self._client = ToxiproxyClient(self._process.url)
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._process is not None:
            self._process.stop()
            self._process = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError("the fault proxy is not started; use it in a with block")
        return self._process.url

    @property
    def client(self) -> ToxiproxyClient:
        """The typed Toxiproxy API client, for anything the handles do not cover."""
        if self._client is None:
            raise RuntimeError("the fault proxy is not started; use it in a with block")
        return self._client

    def create(self, name: str, upstream: str, *, listen: str = "127.0.0.1:0") -> ProxyHandle:
        """A proxy listening on ``listen`` (port 0: a free one) and relaying to ``upstream``
        (``host:port``, e.g. ``mock.address``)."""
        proxy = self.client.create_proxy(name, listen=listen, upstream=upstream)
        return ProxyHandle(self.client, name, proxy.listen, upstream)

    def reset(self) -> None:
        """Delete every proxy (the pytest fixture does this between tests)."""
        for name in self.client.list_proxies():
            self.client.delete_proxy(name)


class ServiceProcess(_Component):
    """Your own service as a child process, for the span of a ``with`` block.

    ``argv`` may hold ``{port}`` (replaced by a free port; brownout then waits for ``health``)
    or the service prints ``BROWNOUT_READY <url>`` once it listens::

        with ServiceProcess(["python", "app.py", "--port", "{port}"],
                            env={"OPENAI_BASE_URL": mock.base_url}) as service:
            httpx.post(f"{service.url}/ask", json={...})

    Its output goes to ``log_path``; it is stopped with SIGTERM (then SIGKILL) at the end.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        health: str | None = "/healthz",
        cwd: Path | None = None,
        log_dir: Path | None = None,
        name: str = "service",
    ) -> None:
        self._argv = list(argv)
        self._env = {**os.environ, **(env or {})}
        self._health = health
        self._cwd = cwd
        self._log_dir = log_dir
        self._name = name
        self._process: _Process | None = None

    def start(self) -> Self:
        if self._process is None:
            port = _free_port() if any("{port}" in arg for arg in self._argv) else None
            argv = [arg.replace("{port}", str(port)) for arg in self._argv]
            url = f"http://127.0.0.1:{port}" if port is not None else None
            self._process = _Process(
                self._name, argv, self._log_dir, url=url, env=self._env, cwd=self._cwd
            )
            if self._health is not None:
                self._process.health(self._health)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError("the service is not started; use it in a with block")
        return self._process.url

    @property
    def log_path(self) -> Path:
        if self._process is None:
            raise RuntimeError("the service is not started; use it in a with block")
        return self._process.log_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
