"""Replay of identical calls: the same request body gets the same rendered reply, fresh ids.

The answer engine is deterministic, so while no fault is active and the model answers
instantly, a byte-identical request has a byte-identical reply except for its id and creation
time. Load tests send a handful of prompts over and over; replaying pre-rendered bytes (reply
and most of the journal line) skips parsing, tokenizing and rendering, which is most of a mock
call's cost (docs/performance.md). Any active fault, or a latency profile, takes the full path.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from itertools import accumulate

import orjson

from mock_providers.core.wire import new_id

MAX_ENTRIES = 4096
_CREATED = re.compile(rb'"created(?:_at)?":(\d+)')


@dataclass
class ReplayEntry:
    """A rendered reply plus the journal fields that do not change between replays."""

    provider: str
    name: str
    endpoint: str
    model: str | None
    tokens_in: int
    tokens_out: int
    fingerprint: str
    response: bytes
    reply_id: str
    # Precomputed on first replay (most prompts of a varied load never repeat): the response
    # cut around its id and creation time, and the journal line's constant segments (same keys,
    # same order as CallRecord).
    _parts: tuple[bytes, bytes, bytes] | None = field(default=None, init=False)
    _line: tuple[bytes, bytes, bytes] = field(default=(b"", b"", b""), init=False)
    _id_prefix: str = field(default="", init=False)
    _id_bytes: int = field(default=0, init=False)

    def _prepare(self) -> tuple[bytes, bytes, bytes]:
        sep = "_" if "_" in self.reply_id else "-"
        self._id_prefix = self.reply_id[: self.reply_id.index(sep) + 1]
        self._id_bytes = max(1, (len(self.reply_id) - len(self._id_prefix)) // 2)
        raw_id = self.reply_id.encode()
        start = self.response.index(raw_id)
        head, rest = self.response[:start], self.response[start + len(raw_id) :]
        match = _CREATED.search(rest)
        if match is None:
            parts = (head, rest, b"")
        else:
            parts = (head, rest[: match.start(1)], rest[match.end(1) :])
        dumps = orjson.dumps
        self._line = (
            b',"provider":'
            + dumps(self.provider)
            + b',"name":'
            + dumps(self.name)
            + b',"endpoint":'
            + dumps(self.endpoint)
            + b',"method":"POST","model":'
            + dumps(self.model)
            + b',"request_id":',
            b',"fingerprint":' + dumps(self.fingerprint) + b',"status":200,"fault":null,'
            b'"tokens_in":%d,"tokens_out":%d,"latency_ms":' % (self.tokens_in, self.tokens_out),
            b',"stream":false,"stream_completed":null,"in_flight":',
        )
        self._parts = parts
        return parts

    def render(self) -> bytes:
        """The stored reply with a new id and the current creation time."""
        head, middle, tail = self._parts or self._prepare()
        reply_id = new_id(self._id_prefix, self._id_bytes).encode()
        if not tail:
            return head + reply_id + middle
        return b"".join((head, reply_id, middle, b"%d" % time.time(), tail))

    def journal_line(
        self,
        t: float,
        latency_ms: float,
        request_id: bytes | None,
        traceparent: bytes | None,
        retry_count: bytes | None,
        in_flight: int,
    ) -> bytes:
        """The call's journal line, identical in content to the one the full path writes."""
        if self._parts is None:
            self._prepare()
        a, b, c = self._line
        rid = b"null" if request_id is None else orjson.dumps(request_id.decode("latin-1"))
        tp = b"null" if traceparent is None else orjson.dumps(traceparent.decode("latin-1"))
        rc = b"%d" % int(retry_count) if retry_count and retry_count.isdigit() else b"null"
        head = b'{"t":%.6f,"t_end":%.6f' % (t, t + latency_ms / 1000.0)
        tail = b'%.3f%s%d,"queue_ms":0.0}\n' % (latency_ms, c, in_flight)
        return b"".join((head, a, rid, b',"traceparent":', tp, b',"retry_count":', rc, b, tail))


class ReplayCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, bytes], ReplayEntry | StreamReplayEntry] = {}

    def get(self, endpoint: str, body: bytes) -> ReplayEntry | StreamReplayEntry | None:
        return self._entries.get((endpoint, body))

    def put(self, body: bytes, entry: ReplayEntry | StreamReplayEntry) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # simplest bound; the hot prompts come back at once
        self._entries[(entry.endpoint, body)] = entry


@dataclass
class StreamReplayEntry:
    """The encoded frames of a stream; replayed with fresh ids at the model's own pace."""

    endpoint: str
    model: str
    tokens_in: int
    tokens_out: int
    fingerprint: str
    frames: list[bytes]
    n_body: int
    reply_id: str
    _old: tuple[bytes, bytes | None] = field(init=False)
    _id_prefix: str = field(init=False)
    _id_bytes: int = field(init=False)
    # All frames in one buffer and where each ends: a replay substitutes the id and creation
    # time once over the buffer and cuts it, instead of two replaces per frame (the per-stream
    # cost is a few microseconds of every chunk's share at a thousand streams a second).
    _blob: bytes = field(init=False)
    _cuts: list[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        sep = "_" if "_" in self.reply_id else "-"
        self._id_prefix = self.reply_id[: self.reply_id.index(sep) + 1]
        self._id_bytes = max(1, (len(self.reply_id) - len(self._id_prefix)) // 2)
        match = _CREATED.search(self.frames[0]) if self.frames else None
        self._old = (self.reply_id.encode(), match.group(0) if match else None)
        self._blob = b"".join(self.frames)
        ends = list(accumulate(len(f) for f in self.frames))
        self._cuts = list(zip([0, *ends[:-1]], ends, strict=True))

    def render(self) -> list[bytes]:
        old_id, old_created = self._old
        new = new_id(self._id_prefix, self._id_bytes).encode()
        created: bytes | None = None
        if old_created is not None:
            created = old_created[: old_created.index(b":") + 1] + b"%d" % time.time()
        blob = self._blob.replace(old_id, new)
        if old_created is not None and created is not None and created != old_created:
            blob = blob.replace(old_created, created)
        if len(blob) == len(self._blob):
            return [blob[start:end] for start, end in self._cuts]
        # An id or a time of another length moved the cuts: substitute frame by frame.
        frames = [f.replace(old_id, new) for f in self.frames]
        if old_created is not None and created is not None:
            frames = [f.replace(old_created, created) for f in frames]
        return frames
