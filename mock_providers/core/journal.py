"""The call journal: one JSON line per provider call received (`provider_calls.jsonl`).

Every line is written and flushed as the call ends, so a crashed or killed run still leaves a
readable file, and files from several mocks (and the other components) line up on epoch time.
The field set is the contract in docs/architecture.md.
"""

from __future__ import annotations

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
        # Written from the event loop only, but the in-process server's owner may close it from
        # another thread while the loop winds down.
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives as long as we do

    def write(self, record: CallRecord) -> None:
        if self._file is None:
            return
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            if self._file is not None:
                # Unbuffered: one write() per line, so the line is on disk when the call ends.
                self._file.write(line)

    def write_line(self, line: bytes) -> None:
        """Append an already-rendered line (the replay path renders its own)."""
        if self._file is None:
            return
        with self._lock:
            if self._file is not None:
                self._file.write(line)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
