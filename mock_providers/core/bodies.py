"""Opt-in body journal (``--bodies FILE``): each call's request and response body, capped.

Written only when brownout runs a scenario with ``record_bodies: true``. Each line holds the
call's time, endpoint, ``X-Request-Id`` (or ``traceparent``) and both bodies cut to 8 KiB with
a marker giving the full size; headers are never recorded, and every value the environment
names as a secret (``BROWNOUT_SECRET_*``, as brownout sets them) is replaced with
``[redacted]`` before the line is written. The response is captured by wrapping the ASGI
``send``, so every path (streams and the replay cache included) is seen as the client saw it; an
exchange whose response never finished (a reset) has no line. The mock imports nothing from
brownout, so these few lines mirror ``harness.bodies``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import IO, Any, Final

import orjson

from mock_providers.core.call import Send

__all__ = ["BODY_CAP_BYTES", "BodyJournal"]

BODY_CAP_BYTES: Final = 8 * 1024
_SECRET_PREFIX: Final = "BROWNOUT_SECRET_"
_REDACTED: Final = "[redacted]"
#: Bytes of a response kept before redaction and the cap: room for a secret across the cap.
_KEEP: Final = 2 * BODY_CAP_BYTES


def _capped(
    data: bytes, pattern: re.Pattern[str] | None, size: int | None = None
) -> dict[str, Any]:
    """Redacted first, then cut: a secret that straddles the cap never leaves half of itself."""
    size = len(data) if size is None else size
    text = data.decode("utf-8", errors="replace")
    if pattern is not None:
        text = pattern.sub(_REDACTED, text)
    cut = text.encode("utf-8")[:BODY_CAP_BYTES].decode("utf-8", errors="ignore")
    truncated = size > BODY_CAP_BYTES
    if truncated:
        cut += f"…[truncated: {size} bytes in all]"
    return {"body": cut, "bytes": size, "truncated": truncated}


class BodyJournal:
    """Appends one line per finished exchange to ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        secrets = sorted(
            {v for k, v in os.environ.items() if k.startswith(_SECRET_PREFIX) and len(v) >= 4},
            key=len,
            reverse=True,
        )
        self._pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    def capture(self, scope: dict[str, Any], body: bytes | None, send: Send) -> Send:
        """``send`` wrapped: keeps up to the cap of what is sent, writes the line at the end."""
        t = time.time()
        sent: list[bytes] = []
        kept = 0
        size = 0
        status = 0

        async def wrapped(message: Any) -> None:
            nonlocal kept, size, status
            await send(message)
            if message["type"] == "http.response.start":
                status = int(message["status"])
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if kept < _KEEP and chunk:
                sent.append(chunk[: _KEEP - kept])
                kept += len(sent[-1])
            if not message.get("more_body", False):
                response = _capped(b"".join(sent), self._pattern, size)
                self._write(scope, t, body or b"", status, response)

        return wrapped

    def _write(
        self, scope: dict[str, Any], t: float, body: bytes, status: int, response: dict[str, Any]
    ) -> None:
        ids = {k: v.decode("latin-1") for k, v in scope["headers"] if k in _ID_HEADERS}
        record = {
            "t": t,
            "endpoint": scope["path"],
            "request_id": ids.get(b"x-request-id"),
            "traceparent": ids.get(b"traceparent"),
            "request": _capped(body, self._pattern),
            "response": {"status": status, **response},
        }
        line = orjson.dumps(record)
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives with us
            self._file.write(line + b"\n")

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_ID_HEADERS: Final = (b"x-request-id", b"traceparent")
