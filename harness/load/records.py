"""The request record: one line of ``requests.jsonl`` per user request.

This is the contract between the load driver (which writes it inside the Locust subprocess) and
the analysis (which reads it back), so it lives in a module with no Locust import: both sides and
the tests share one definition of the fields, their order and their meaning.

Field meanings (see docs/architecture.md, "requests.jsonl"):

- ``t_start``/``t_end``: wall-clock epoch seconds (``time.time()``), so rows line up with
  ``events.jsonl`` and ``provider_calls.jsonl`` written by other processes.
- ``status``: the HTTP status, 0 when no response arrived (kept when the body then broke off,
  which is a ``timeout``/``connection`` error with the bytes that did arrive in ``bytes``).
- ``ttft_ms``: time to the first body byte, for requests configured as streamed; else null.
- ``itl_ms``: for streamed requests, the mean gap between body chunks after the first (the
  inter-token latency of an SSE answer); null when not streamed or fewer than two chunks came.
- ``schedule_lag_ms``: open model only: how late the generator sent the request after it was
  due (``t_start`` is when it was due, so ``latency_ms`` includes the lag); null when closed.
- ``ok``: the request counts as a success: a 2xx/3xx response that also passed the validators.
  Exactly when ``error_class`` is null.
- ``error_class``: null, ``http_<status>``, ``timeout``, ``connection`` or ``validation``.
- ``valid``: the validators' verdict; null when the load has no validators or when there was no
  response body to judge (transport error or HTTP error status).
"""

from __future__ import annotations

import builtins
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import orjson

__all__ = [
    "ERROR_CLASSES",
    "FLUSH_INTERVAL_S",
    "DroppedArrival",
    "RecordFormatError",
    "RequestLogWriter",
    "RequestRecord",
    "error_class_for_status",
    "is_error_class",
    "read_records",
]

#: The error classes that are not tied to an HTTP status (``http_<status>`` is the other kind).
ERROR_CLASSES: Final = ("timeout", "connection", "validation")

#: How often the Locust process writes out the record lines it holds (RequestLogWriter): the
#: most a SIGKILLed load process can lose, and how far a live reader lags behind.
FLUSH_INTERVAL_S: Final = 0.2

_HTTP_CLASS = re.compile(r"^http_[1-9][0-9]{2}$")
#: Fields added after the first release of the format: older files lack them.
_OPTIONAL: Final = frozenset({"itl_ms", "schedule_lag_ms"})


class RecordFormatError(ValueError):
    """A line of requests.jsonl does not follow the record format."""


def error_class_for_status(status: int) -> str | None:
    """The error class of a response that arrived: null for 2xx/3xx, else ``http_<status>``."""
    if 200 <= status < 400:
        return None
    return f"http_{status}"


def is_error_class(value: str | None) -> bool:
    """Whether ``value`` is a legal ``error_class`` (null included)."""
    return value is None or value in ERROR_CLASSES or bool(_HTTP_CLASS.match(value))


@dataclass(slots=True)
class RequestRecord:
    """One user request as the load generator saw it.

    Not frozen, though nothing changes a record once made: one is built per request on the
    load generator's hot path, and a frozen dataclass's ``__init__`` (``object.__setattr__``
    per field) costs three times a plain one's."""

    t_start: float
    t_end: float
    name: str
    status: int
    ok: bool
    latency_ms: float
    ttft_ms: float | None
    bytes: int
    error: str | None
    error_class: str | None
    request_id: str
    valid: bool | None
    itl_ms: float | None = None
    schedule_lag_ms: float | None = None

    def to_json(self) -> str:
        """One compact JSON line (no newline), keys in the documented order."""
        return self.to_json_bytes().decode("ascii")

    def to_json_bytes(self) -> builtins.bytes:  # (the field `bytes` hides the type here)
        """``to_json`` as bytes, byte for byte what ``json.dumps(asdict(record),
        separators=(",", ":"), allow_nan=False)`` writes, at a fraction of its cost.

        orjson serialises the slotted dataclass directly (fields in declaration order), and
        agrees with ``json.dumps`` except where the checks below send the record to
        ``json.dumps`` itself: a float that is not finite (``json.dumps`` refuses it, orjson
        would write null), or so small or large that ``json.dumps`` uses an exponent
        (orjson writes ``0.00009999`` for ``9.999e-05``), and text outside printable ASCII
        (``json.dumps`` escapes it as ``\\uXXXX``, orjson writes UTF-8 and a raw DEL).
        """
        for value in (
            self.t_start,
            self.t_end,
            self.latency_ms,
            self.ttft_ms,
            self.itl_ms,
            self.schedule_lag_ms,
        ):
            # NaN fails both comparisons, infinity the second: both go to json.dumps.
            if value is not None and value != 0 and not 1e-4 <= abs(value) < 1e16:
                return self._to_json_reference().encode("ascii")
        try:
            line = orjson.dumps(self)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate
            return self._to_json_reference().encode("ascii")
        if not line.isascii() or b"\x7f" in line:
            return self._to_json_reference().encode("ascii")
        return line

    def _to_json_reference(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, line: str) -> RequestRecord:
        """Parse and check one line; raises RecordFormatError saying what is wrong."""
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordFormatError(f"not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise RecordFormatError(f"expected a JSON object, found {type(raw).__name__}")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RequestRecord:
        """Build a record from a decoded JSON object, checking every field."""
        problems: list[str] = []
        expected = set(cls.__dataclass_fields__)
        missing = sorted(expected - raw.keys() - _OPTIONAL)
        extra = sorted(raw.keys() - expected)
        if missing:
            problems.append(f"missing keys {missing}")
        if extra:
            problems.append(f"unknown keys {extra}")
        if problems:
            raise RecordFormatError("; ".join(problems))

        def number(key: str, *, nullable: bool = False) -> None:
            value = raw[key]
            if value is None and nullable:
                return
            # bool is an int subclass in Python but not a number in this format.
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{key}: expected a number, found {value!r}")
            elif not math.isfinite(value) or value < 0:
                problems.append(f"{key}: expected a finite number >= 0, found {value!r}")

        for key in ("t_start", "t_end", "latency_ms"):
            number(key)
        number("ttft_ms", nullable=True)
        for key in _OPTIONAL:
            if key in raw:
                number(key, nullable=True)
        for key in ("status", "bytes"):
            if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 0:
                problems.append(f"{key}: expected an integer >= 0, found {raw[key]!r}")
        if not isinstance(raw["ok"], bool):
            problems.append(f"ok: expected true/false, found {raw['ok']!r}")
        if raw["valid"] is not None and not isinstance(raw["valid"], bool):
            problems.append(f"valid: expected true/false/null, found {raw['valid']!r}")
        for key in ("name", "request_id"):
            if not isinstance(raw[key], str) or not raw[key]:
                problems.append(f"{key}: expected a non-empty string, found {raw[key]!r}")
        if raw["error"] is not None and not isinstance(raw["error"], str):
            problems.append(f"error: expected a string or null, found {raw['error']!r}")
        error_class = raw["error_class"]
        if not (error_class is None or isinstance(error_class, str)) or not is_error_class(
            error_class
        ):
            problems.append(
                "error_class: expected null, http_<status>, timeout, connection or validation, "
                f"found {error_class!r}"
            )
        elif isinstance(raw["ok"], bool) and raw["ok"] != (error_class is None):
            problems.append(f"ok is {raw['ok']} but error_class is {error_class!r}")
        if (
            not problems
            and isinstance(raw["t_start"], int | float)
            and raw["t_end"] < raw["t_start"]
        ):
            problems.append(f"t_end {raw['t_end']} is before t_start {raw['t_start']}")
        if problems:
            raise RecordFormatError("; ".join(problems))
        return cls(**raw)


@dataclass(frozen=True, slots=True)
class DroppedArrival:
    """An open-model arrival the generator did not send: ``max_in_flight`` requests were
    already outstanding. One line of ``dropped.jsonl`` (``dropped.w<N>.jsonl`` per worker)."""

    t: float
    name: str
    in_flight: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), allow_nan=False)

    def to_json_bytes(self) -> bytes:
        return self.to_json().encode("ascii")


class RequestLogWriter:
    """Appends records to requests.jsonl in batches of whole lines.

    Lines wait in memory until ``batch_lines`` of them are held or ``flush`` is called (the
    locustfile calls it on a short timer, ``FLUSH_INTERVAL_S``, and when the test stops), and
    each batch goes to the file in one ``os.write`` on an ``O_APPEND`` descriptor: the file
    only ever holds whole lines (a reader tailing it mid-run sees complete records or
    nothing), and a writer killed outright (SIGKILL) loses at most the lines of its last
    interval; an orderly end (SIGTERM/SIGINT, which is what an aborted run sends Locust)
    flushes everything. ``batch_lines=1`` writes every line as it comes.
    """

    def __init__(self, path: Path, *, batch_lines: int = 1) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.batch_lines = max(1, batch_lines)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._pending: list[bytes] = []

    def write(self, record: RequestRecord | DroppedArrival) -> None:
        self._pending.append(record.to_json_bytes())
        if len(self._pending) >= self.batch_lines:
            self.flush()

    def flush(self) -> None:
        """Write every held line now."""
        if not self._pending or self._fd is None:
            return
        lines, self._pending = self._pending, []
        data = memoryview(b"\n".join(lines) + b"\n")
        while data:  # a regular file takes it all at once but for a full disk or a signal
            data = data[os.write(self._fd, data) :]

    def unbuffered(self) -> None:
        """From now on write every line as it comes (the test is stopping: the requests
        still in flight finish during shutdown, after the last timer tick)."""
        self.flush()
        self.batch_lines = 1

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RequestLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_records(path: Path) -> Iterator[RequestRecord]:
    """Stream the records of a requests.jsonl; a bad line raises with its line number.

    A last line without its newline is what a killed writer leaves behind; it is skipped
    rather than failing the whole file.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                return
            if not line.strip():
                continue
            try:
                yield RequestRecord.from_json(line)
            except RecordFormatError as exc:
                raise RecordFormatError(f"{path}:{number}: {exc}") from exc
