"""The call journal: one JSON line per provider call received (`provider_calls.jsonl`).

Lines are written whole: the lines of the calls that end in one turn of the event loop go to
the file in one `write()` at the end of that turn (a system call per call was a visible share of
a mock's CPU at tens of thousands of calls a second), or at once when there is no running loop.
So a crashed or killed run still leaves a readable file missing at most the calls of the turn
it died in, a graceful stop (SIGTERM) loses nothing, and with `--workers` the workers' lines
never interleave (`O_APPEND`, whole lines per write). Files from several mocks (and the other
components) line up on epoch time. The field set is the contract in docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import IO, Any, NotRequired, TypedDict

import orjson


class CallRecord(TypedDict):
    """One journal line; field names and meanings are fixed by docs/architecture.md."""

    t: float
    t_end: float
    provider: str
    name: str
    endpoint: str
    method: str
    model: str | None
    request_id: str | None
    traceparent: str | None
    retry_count: int | None
    fingerprint: str
    status: int
    fault: str | None
    tokens_in: int
    tokens_out: int
    latency_ms: float
    stream: bool
    stream_completed: bool | None
    in_flight: int
    queue_ms: float
    #: the wait a 429/503 reply asked for, in seconds; only present when the reply asked
    retry_after_s: NotRequired[float]


#: Lines kept before a write at the latest (a long turn of the loop still writes as it goes).
MAX_PENDING_LINES = 256


def fingerprint(method: str, endpoint: str, body: bytes, payload: Any) -> str:
    """Hash of method, endpoint and canonical JSON body: retries of one request share it."""
    canonical = body if payload is None else orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    h = hashlib.blake2b(digest_size=8)
    h.update(method.encode())
    h.update(b" ")
    h.update(endpoint.encode())
    h.update(b"\n")
    h.update(canonical)
    return h.hexdigest()


class Journal:
    """Appends `CallRecord`s to a file (or nowhere when `path` is None)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._file: IO[bytes] | None = None
        # Lines of this turn of the event loop, written by `flush` (scheduled with the first).
        self._pending: list[bytes] = []
        # Written from the event loop only, but the in-process server's owner may close it from
        # another thread while the loop winds down.
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives as long as we do

    def write(self, record: CallRecord) -> None:
        if self._file is not None:
            self.write_line(orjson.dumps(record) + b"\n")

    def write_line(self, line: bytes) -> None:
        """Append an already-rendered line (the replay path renders its own)."""
        if self._file is None:
            return
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:  # the first of this turn: write them all at its end
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop here: write it now
                self.flush()
        elif len(pending) >= MAX_PENDING_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the pending lines (whole, in one `write()`)."""
        with self._lock:
            if self._pending and self._file is not None:
                lines, self._pending = self._pending, []
                data = b"".join(lines)
                # Unbuffered file: the lines are in the file when this returns.
                self._file.write(data)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
