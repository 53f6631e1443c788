"""The run's timeline file, ``events.jsonl``: one JSON object a line, flushed as written.

Written from several threads (timeline, supervisor, main loop), so appends take a lock; every
line is flushed at once so a crash leaves everything that happened up to it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["EventLog"]


class EventLog:
    def __init__(self, path: Path, *, redact: Callable[[Any], Any] | None = None) -> None:
        self.path = path
        self._redact = redact
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def emit(self, type_: str, *, t: float | None = None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {"t": time.time() if t is None else t, "type": type_, **fields}
        line = json.dumps(self._redact(record) if self._redact else record, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        return record

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
