"""Records of remote workers, carried to the master over Locust's messaging: runs ONLY inside
Locust processes (it uses gevent).

A ``brownout worker`` on another machine cannot write into the run directory, so it ships its
``requests.jsonl`` and ``dropped.jsonl`` lines to the master in batches (at most
``BATCH_LINES`` lines or ``BATCH_INTERVAL_S`` old, so its memory stays bounded; Locust's
ZeroMQ socket blocks the sender when the master falls behind, which is the back-pressure),
and the master appends each batch to ``requests.w<index>.jsonl`` in the run directory, the
file a local worker with that index would have written. Local workers keep writing their
files directly: no extra hop through the master's single event loop at high rates, and a
killed local worker's rows up to its last flush (records.FLUSH_INTERVAL_S) are on disk.

The master also keeps ``load_workers.jsonl`` (who joined, who was lost) for the orchestrator,
which cannot see a remote worker's process: a remote worker that misses Locust's heartbeats
or quits mid-run is written there as ``lost`` and the run becomes invalid. At the end, the
master asks every remote worker to finish its in-flight requests and send what it holds
(``FLUSH``) and waits for the answers, bounded, before Locust tells workers to quit.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

import gevent
import gevent.event
from locust.env import Environment
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner

from harness.load.config import shard_path

__all__ = [
    "BATCH_INTERVAL_S",
    "BATCH_LINES",
    "REMOTE_ENV_VAR",
    "Receiver",
    "Shipper",
    "is_remote_worker",
]

#: Set to "1" by ``brownout worker``: this process ships its records instead of writing them.
REMOTE_ENV_VAR: Final = "BROWNOUT_REMOTE_WORKER"
HELLO: Final = "brownout_hello"
ROWS: Final = "brownout_rows"
FLUSH: Final = "brownout_flush"
FLUSHED: Final = "brownout_flushed"
BATCH_LINES: Final = 200
BATCH_INTERVAL_S: Final = 0.2
_KINDS: Final = ("requests", "dropped")


def is_remote_worker() -> bool:
    return os.environ.get(REMOTE_ENV_VAR) == "1"


class Shipper:
    """The remote worker's side: batches of record lines sent to the master."""

    def __init__(self, environment: Environment, in_flight: Callable[[], int]) -> None:
        self.environment = environment
        self.in_flight = in_flight
        self.stopping = gevent.event.Event()
        self._lines: dict[str, list[str]] = {kind: [] for kind in _KINDS}
        self._oldest: float | None = None
        runner = environment.runner
        assert isinstance(runner, WorkerRunner)
        self.runner = runner
        runner.register_message(FLUSH, self._on_flush)
        gevent.spawn(self._hello_then_tick)

    def add(self, kind: str, line: str) -> None:
        self._lines[kind].append(line)
        if self._oldest is None:
            self._oldest = time.monotonic()
        if len(self._lines[kind]) >= BATCH_LINES:
            self.flush()

    def flush(self) -> None:
        self._oldest = None
        for kind in _KINDS:
            lines, self._lines[kind] = self._lines[kind], []
            if lines:
                self.runner.send_message(
                    ROWS, {"index": self.runner.worker_index, "kind": kind, "lines": lines}
                )

    def _hello_then_tick(self) -> None:
        while self.runner.worker_index < 0:  # the master's ack assigns it
            gevent.sleep(0.05)
        self.runner.send_message(
            HELLO,
            {"index": self.runner.worker_index, "host": socket.gethostname(), "pid": os.getpid()},
        )
        while True:
            gevent.sleep(BATCH_INTERVAL_S / 2)
            if self._oldest is not None and time.monotonic() - self._oldest >= BATCH_INTERVAL_S:
                self.flush()

    def _on_flush(self, msg: Any, **_kw: Any) -> None:
        gevent.spawn(self._finish, float(msg.data["timeout_s"]))

    def _finish(self, timeout_s: float) -> None:
        # Send no new request, let those in flight end (bounded), then ship everything.
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        while self.in_flight() and time.monotonic() < deadline:
            gevent.sleep(0.05)
        self.flush()
        self.runner.send_message(FLUSHED, {"index": self.runner.worker_index})


class Receiver:
    """The master's side: remote workers' batches into the run directory, and their fate
    into ``load_workers.jsonl``."""

    def __init__(self, environment: Environment, requests_file: Path, dropped_file: Path) -> None:
        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        self.runner = runner
        self._bases = {"requests": requests_file, "dropped": dropped_file}
        self._files: dict[tuple[str, int], IO[str]] = {}
        self._remote: dict[str, dict[str, Any]] = {}  # node id -> hello data
        self._flushed: set[str] = set()
        self._lost: set[str] = set()
        self.closing = False
        self._drained = False
        self._status = requests_file.with_name("load_workers.jsonl").open("a", encoding="utf-8")
        runner.register_message(HELLO, self._on_hello)
        runner.register_message(ROWS, self._on_rows)
        runner.register_message(FLUSHED, self._on_flushed)
        gevent.spawn(self._watch)

    def _note(self, event: str, node: str) -> None:
        line = {"t": time.time(), "event": event, "node": node, **self._remote[node]}
        self._status.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._status.flush()

    def _on_hello(self, msg: Any, **_kw: Any) -> None:
        data = msg.data
        self._remote[msg.node_id] = {
            "index": int(data["index"]),
            "host": str(data["host"]),
            "pid": int(data["pid"]),
            "remote": True,
        }
        self._note("joined", msg.node_id)

    def _on_rows(self, msg: Any, **_kw: Any) -> None:
        kind = str(msg.data["kind"])
        index = int(msg.data["index"])
        if kind not in self._bases:
            return
        handle = self._files.get((kind, index))
        if handle is None:
            path = shard_path(self._bases[kind], index)
            handle = self._files[(kind, index)] = path.open("a", encoding="utf-8")
        handle.write("".join(line + "\n" for line in msg.data["lines"]))
        handle.flush()

    def _on_flushed(self, msg: Any, **_kw: Any) -> None:
        self._flushed.add(msg.node_id)

    def _watch(self) -> None:
        while True:
            gevent.sleep(0.5)
            if self.closing:
                return
            for node in list(self._remote):
                if node in self._lost:
                    continue
                gone = node not in self.runner.clients
                if gone or self.runner.clients[node].state == STATE_MISSING:
                    self._lost.add(node)
                    self._note("lost", node)

    def drain(self, timeout_s: float) -> None:
        """Ask every remote worker still connected for its last records; wait for them.
        Once: a second call (SIGTERM, then Locust's own quitting) returns at once."""
        if self._drained:
            return
        self._drained = True
        self.closing = True
        waiting = [n for n in self._remote if n in self.runner.clients and n not in self._lost]
        for node in waiting:
            self.runner.send_message(FLUSH, {"timeout_s": max(0.0, timeout_s - 1.0)}, node)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._flushed.issuperset(waiting):
            gevent.sleep(0.05)
