"""Request- and token-based rate-limit buckets, and the headers that report them.

Real providers refill per-minute limits continuously and tell clients the state on every
response (`x-ratelimit-*` for OpenAI, `anthropic-ratelimit-*` for Anthropic). The mock keeps one
pair of buckets for the account (reported, never enforced) and the `rate_limit` fault can add its
own, enforced, buckets.
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

    requests: TokenBucket = field(default_factory=lambda: TokenBucket(10_000))
    tokens: TokenBucket = field(default_factory=lambda: TokenBucket(30_000_000))
    _pending_requests: int = field(default=0, repr=False)
    _pending_tokens: int = field(default=0, repr=False)
    _openai: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)
    _openai_at: float = field(default=-1.0, repr=False)
    _anthropic: list[tuple[bytes, bytes]] = field(default_factory=list, repr=False)
    _anthropic_at: float = field(default=-1.0, repr=False)

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
        self._openai = [
            (b"x-ratelimit-limit-requests", b"%d" % self.requests.limit),
            (b"x-ratelimit-limit-tokens", b"%d" % self.tokens.limit),
            (b"x-ratelimit-remaining-requests", b"%d" % self.requests.remaining(now)),
            (b"x-ratelimit-remaining-tokens", b"%d" % self.tokens.remaining(now)),
            (b"x-ratelimit-reset-requests", go_duration(self.requests.reset_s(now)).encode()),
            (b"x-ratelimit-reset-tokens", go_duration(self.tokens.reset_s(now)).encode()),
        ]
        return self._openai

    def anthropic_headers(self) -> list[tuple[bytes, bytes]]:
        now = time.monotonic()
        if now - self._anthropic_at < _HEADER_TTL_S:
            return self._anthropic
        self._anthropic_at = now
        self._apply(now)
        out: list[tuple[bytes, bytes]] = []
        for kind, bucket in (
            ("requests", self.requests),
            ("tokens", self.tokens),
            ("input-tokens", self.tokens),
            ("output-tokens", self.tokens),
        ):
            prefix = f"anthropic-ratelimit-{kind}-"
            out.append(((prefix + "limit").encode(), b"%d" % bucket.limit))
            out.append(((prefix + "remaining").encode(), b"%d" % bucket.remaining(now)))
            out.append(((prefix + "reset").encode(), rfc3339_in(bucket.reset_s(now)).encode()))
        self._anthropic = out
        return out
