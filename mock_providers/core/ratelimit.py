"""Request- and token-based rate-limit buckets, and the headers that report them.

Real providers refill per-minute limits continuously and tell clients the state on every
response (`x-ratelimit-*` for OpenAI, `anthropic-ratelimit-*` for Anthropic). By default the mock
keeps one pair of buckets for the account (reported, never enforced); with `capacity.rpm` /
`capacity.tpm` every API key gets its own enforced buckets, and each response's headers (and
each 429) report that key's true state. The `rate_limit` fault can add its own buckets too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class TokenBucket:
    """`limit` units per minute, refilled continuously; starts full."""

    limit: float
    level: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.level = self.limit
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.updated) * self.limit / 60.0)
        self.updated = now

    def take(self, amount: float, now: float | None = None) -> float:
        """Take `amount` if available: 0.0 when granted, else the seconds until it would be."""
        now = time.monotonic() if now is None else now
        self._refill(now)
        if amount <= self.level:
            self.level -= amount
            return 0.0
        return (amount - self.level) * 60.0 / self.limit

    def remaining(self, now: float | None = None) -> int:
        self._refill(time.monotonic() if now is None else now)
        return max(0, int(self.level))

    def reset_s(self, now: float | None = None) -> float:
        """Seconds until the bucket is full again."""
        self._refill(time.monotonic() if now is None else now)
        return (self.limit - self.level) * 60.0 / self.limit


_HEADER_TTL_S = 0.05
DEFAULT_RPM, DEFAULT_TPM = 10_000, 30_000_000
# Distinct API keys tracked at once when limits are enforced (a bound against key floods).
MAX_KEYS = 10_000


def api_key(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's API key (`authorization: Bearer …`, `x-api-key`, Azure `api-key`, Gemini
    `x-goog-api-key`)."""
    for name, value in headers:
        if name == b"authorization":
            return value.removeprefix(b"Bearer ").strip()
        if name in (b"x-api-key", b"api-key", b"x-goog-api-key"):
            return value
    return b""


@dataclass
class Refusal:
    """Why an enforced account limit refused a call: which bucket, its state, the wait."""

    unit: str  # "requests" or "tokens"
    limit: int
    used: int
    requested: int
    retry_s: float


@dataclass
class KeyBuckets:
    requests: TokenBucket
    tokens: TokenBucket


def go_duration(seconds: float) -> str:
    """OpenAI's reset format, a Go duration: `120ms`, `1.5s`, `6m0s`, `1h2m3s`."""
    if seconds < 1.0:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    hours, rest_ms = divmod(round(seconds * 1000), 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    sec_text = f"{rest_ms / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{minutes}m{sec_text}s"
    return f"{sec_text}s"


def rfc3339_in(seconds: float) -> str:
    """Anthropic's reset format: the RFC 3339 UTC time `seconds` from now."""
    when = datetime.fromtimestamp(time.time() + seconds, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AccountLimits:
    """The account's per-minute request and token limits, as reported in response headers."""

    requests: TokenBucket = field(default_factory=lambda: TokenBucket(DEFAULT_RPM))
    tokens: TokenBucket = field(default_factory=lambda: TokenBucket(DEFAULT_TPM))
    rpm: int | None = None
    tpm: int | None = None
    _keys: dict[bytes, KeyBuckets] = field(default_factory=dict, repr=False)
    _pending_requests: int = field(default=0, repr=False)
    _pending_tokens: int = field(default=0, repr=False)
    _openai: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)
    _openai_at: float = field(default=-1.0, repr=False)
    _anthropic: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)
    _anthropic_at: float = field(default=-1.0, repr=False)
    # The snapshots above rendered as header lines, and the snapshot each was rendered from.
    _openai_head: tuple[object, bytes] = field(default=(None, b""), repr=False)
    _anthropic_head: tuple[object, bytes] = field(default=(None, b""), repr=False)

    @property
    def enforced(self) -> bool:
        return self.rpm is not None or self.tpm is not None

    def configure(self, rpm: int | None, tpm: int | None) -> None:
        """Enforce these per-key limits from now on (None: not enforced); new limits start full."""
        if (rpm, tpm) != (self.rpm, self.tpm):
            self.rpm, self.tpm = rpm, tpm
            self._keys.clear()

    def buckets(self, key: bytes) -> KeyBuckets:
        found = self._keys.get(key)
        if found is None:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            found = self._keys[key] = KeyBuckets(
                TokenBucket(self.rpm or DEFAULT_RPM), TokenBucket(self.tpm or DEFAULT_TPM)
            )
        return found

    def charge(self, key: bytes, tokens: int) -> Refusal | None:
        """Take one request and `tokens` from the key's buckets; the refusal when they cannot
        cover it (then nothing is taken, as a provider does not count refused calls)."""
        b = self.buckets(key)
        now = time.monotonic()
        wait_r = b.requests.take(1.0, now) if self.rpm is not None else 0.0
        if wait_r > 0:
            return Refusal(
                "requests",
                int(b.requests.limit),
                int(b.requests.limit) - int(b.requests.level),
                1,
                wait_r,
            )
        wait_t = b.tokens.take(float(tokens), now) if self.tpm is not None else 0.0
        if wait_t > 0:
            if self.rpm is not None:
                b.requests.level = min(b.requests.limit, b.requests.level + 1.0)
            return Refusal(
                "tokens",
                int(b.tokens.limit),
                int(b.tokens.limit) - int(b.tokens.level),
                tokens,
                wait_t,
            )
        if self.rpm is None:
            b.requests.take(min(1.0, b.requests.level), now)
        if self.tpm is None:
            b.tokens.take(min(float(tokens), b.tokens.level), now)
        return None

    def request_state(self) -> tuple[int, int]:
        """(limit, used) of the account's request bucket now: what a 429 reports."""
        self._apply(time.monotonic())
        bucket = self.requests
        return int(bucket.limit), int(bucket.limit - bucket.remaining())

    def key_openai_headers(self, key: bytes) -> list[tuple[bytes, bytes]]:
        """`x-ratelimit-*` from this key's buckets, exact (no snapshot)."""
        b = self.buckets(key)
        now = time.monotonic()
        return _openai_lines(b.requests, b.tokens, now)

    def key_anthropic_headers(self, key: bytes) -> list[tuple[bytes, bytes]]:
        b = self.buckets(key)
        return _anthropic_lines(b.requests, b.tokens, time.monotonic())

    def record(self, tokens: int) -> None:
        """Count a call against the account; never refuses (the faults do the refusing)."""
        # Applied when the headers are next rendered: this runs on every call.
        self._pending_requests += 1
        self._pending_tokens += tokens

    def _apply(self, now: float) -> None:
        self.requests.take(min(float(self._pending_requests), self.requests.level), now)
        self.tokens.take(min(float(self._pending_tokens), self.tokens.level), now)
        self._pending_requests = self._pending_tokens = 0

    def openai_headers(self) -> list[tuple[bytes, bytes]]:
        # Rendering six headers per call is a visible share of a mock call's cost; clients
        # never parse these (provider-wire.md §2.5), so a 50 ms old snapshot is exact enough.
        now = time.monotonic()
        if now - self._openai_at < _HEADER_TTL_S:
            return self._openai
        self._openai_at = now
        self._apply(now)
        self._openai = _openai_lines(self.requests, self.tokens, now)
        return self._openai

    def anthropic_headers(self) -> list[tuple[bytes, bytes]]:
        now = time.monotonic()
        if now - self._anthropic_at < _HEADER_TTL_S:
            return self._anthropic
        self._anthropic_at = now
        self._apply(now)
        self._anthropic = _anthropic_lines(self.requests, self.tokens, now)
        return self._anthropic

    def openai_head(self) -> bytes:
        """`openai_headers()` as header lines (`name: value\\r\\n`), rendered once a snapshot."""
        lines = self.openai_headers()
        source, head = self._openai_head
        if source is not lines:
            head = header_lines(lines)
            self._openai_head = (lines, head)
        return head

    def anthropic_head(self) -> bytes:
        """`anthropic_headers()` as header lines, rendered once a snapshot."""
        lines = self.anthropic_headers()
        source, head = self._anthropic_head
        if source is not lines:
            head = header_lines(lines)
            self._anthropic_head = (lines, head)
        return head


def header_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Headers the mock made itself (lower-case names, plain values) as `name: value` lines."""
    return b"".join([name + b": " + value + b"\r\n" for name, value in headers])


def _openai_lines(
    requests: TokenBucket, tokens: TokenBucket, now: float
) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit-requests", b"%d" % requests.limit),
        (b"x-ratelimit-limit-tokens", b"%d" % tokens.limit),
        (b"x-ratelimit-remaining-requests", b"%d" % requests.remaining(now)),
        (b"x-ratelimit-remaining-tokens", b"%d" % tokens.remaining(now)),
        (b"x-ratelimit-reset-requests", go_duration(requests.reset_s(now)).encode()),
        (b"x-ratelimit-reset-tokens", go_duration(tokens.reset_s(now)).encode()),
    ]


def _anthropic_lines(
    requests: TokenBucket, tokens: TokenBucket, now: float
) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for kind, bucket in (
        ("requests", requests),
        ("tokens", tokens),
        ("input-tokens", tokens),
        ("output-tokens", tokens),
    ):
        prefix = f"anthropic-ratelimit-{kind}-"
        out.append(((prefix + "limit").encode(), b"%d" % bucket.limit))
        out.append(((prefix + "remaining").encode(), b"%d" % bucket.remaining(now)))
        out.append(((prefix + "reset").encode(), rfc3339_in(bucket.reset_s(now)).encode()))
    return out
