"""Opt-in body recording (scenario ``record_bodies: true``): capped, redacted, kept apart.

AI failures are rarely reproducible, so a trace is worth more with the prompt and the answer
in it; but bodies are large and may carry secrets. So recording is off by default, each body
is cut to ``BODY_CAP_BYTES`` with a marker saying how long it was, every secret of the run
(each ``${VAR}`` value, each secret-named header or environment value) is replaced with
``[redacted]`` before the line is written, headers are never recorded, and the lines go to
their own files (``bodies.jsonl`` at the load generator, ``provider_bodies.jsonl`` at the mock
providers) keyed by request id, so ``requests.jsonl`` stays lean and the analysis never reads
them except for the few traces it shows.

The processes that write bodies learn the secrets from their environment (``secret_env``), the
way the load generator already learns its secret header values: no file holds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from harness.redact import SECRET_ENV_PREFIX, Redactor, is_secret_name

__all__ = [
    "BODIES_FILE",
    "BODY_CAP_BYTES",
    "PROVIDER_BODIES_FILE",
    "BodyLog",
    "capped",
    "provider_body_args",
    "redactor_from_env",
    "scenario_secret_env",
    "secret_env",
]

#: Each recorded body (request or response) keeps at most this many bytes.
BODY_CAP_BYTES: Final = 8 * 1024
BODIES_FILE: Final = "bodies.jsonl"
PROVIDER_BODIES_FILE: Final = "provider_bodies.jsonl"
_MARKER: Final = "…[truncated: {size} bytes in all]"


def capped(raw: bytes | None, redactor: Redactor | None = None) -> dict[str, Any]:
    """A body as recorded: its text (UTF-8, undecodable bytes replaced), redacted, then cut to
    the cap with a marker (so a secret that straddles the cap never leaves half of itself), its
    full size, and whether it was cut."""
    data = raw or b""
    text = data.decode("utf-8", errors="replace")
    if redactor is not None:
        text = redactor.text(text)
    cut = text.encode("utf-8")[:BODY_CAP_BYTES].decode("utf-8", errors="ignore")
    truncated = len(data) > BODY_CAP_BYTES
    if truncated:
        cut += _MARKER.format(size=len(data))
    return {"body": cut, "bytes": len(data), "truncated": truncated}


def secret_env(secrets: Iterable[str], *mappings: Mapping[str, str]) -> dict[str, str]:
    """``BROWNOUT_SECRET_<hash>`` → value for every secret of the run: the given values and the
    secret-named entries of ``mappings`` (headers, the SUT's environment)."""
    values = set(secrets)
    for mapping in mappings:
        values |= {v for k, v in mapping.items() if is_secret_name(k)}
    return {
        SECRET_ENV_PREFIX + hashlib.sha256(v.encode()).hexdigest()[:16].upper(): v
        for v in values
        if v
    }


def scenario_secret_env(scenario: Any) -> dict[str, str]:
    """``secret_env`` for a Scenario: its ``${VAR}`` values, secret-named request headers (of
    ``load.request`` and every ``load.requests`` template) and secret-named ``sut.env``."""
    headers = [scenario.load.request.headers, *(t.headers for t in scenario.load.requests)]
    return secret_env(scenario.secrets, *headers, scenario.sut.env)


def provider_body_args(scenario: Any, path: Path) -> list[str]:
    """The mock provider's ``--bodies`` option when the scenario records bodies."""
    return ["--bodies", str(path)] if scenario.record_bodies else []


def redactor_from_env(environ: Mapping[str, str] | None = None) -> Redactor:
    """A Redactor for every ``BROWNOUT_SECRET_*`` value in the environment."""
    env = os.environ if environ is None else environ
    return Redactor(v for k, v in env.items() if k.startswith(SECRET_ENV_PREFIX))


class BodyLog:
    """Appends one redacted JSON line per exchange; the file is opened on first use."""

    def __init__(self, path: Path, redactor: Redactor) -> None:
        self.path = path
        self.redactor = redactor
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(self.redactor.data(dict(record)), ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()

    def exchange(
        self, request_id: str, t: float, request: Any, status: int, response: bytes
    ) -> None:
        """One user request as the load generator sent it and the answer it read."""
        sent = request if isinstance(request, bytes) or request is None else _json(request)
        self.write(
            {
                "request_id": request_id,
                "t": t,
                "request": capped(sent, self.redactor),
                "response": {"status": status, **capped(response, self.redactor)},
            }
        )

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
