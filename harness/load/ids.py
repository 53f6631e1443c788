"""Request ids and W3C trace-context span ids for the load driver (no Locust import, so the
tests and the custom-locustfile support share it without pulling in gevent).

They come from a generator seeded from the OS once per process (and again in a forked child)
instead of ``uuid.uuid4()``'s system call per id: ids only need to be unique and uniformly
random (a tracer may sample on their low bits, so no counters), not unpredictable. It is a
generator of its own, apart from the seeded streams that choose templates and dataset rows,
which it must not disturb.
"""

from __future__ import annotations

import os
import random

__all__ = ["new_request_id", "traceparent"]

_ids = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _ids.seed(os.urandom(32)))


def new_request_id() -> str:
    """A fresh request id: 32 lowercase hex digits, 128 random bits, never all zero (it is
    also the W3C trace id, for which all zero is invalid)."""
    return f"{_ids.getrandbits(128) or 1:032x}"


def traceparent(request_id: str) -> str:
    """A W3C ``traceparent`` whose trace id is the request id itself (32 lowercase hex digits,
    never all zero: see ``new_request_id``), so a provider call joins its request on either
    header; the parent span id is fresh per request (never all zero), and the trace is
    sampled."""
    return f"00-{request_id}-{_ids.getrandbits(64) or 1:016x}-01"
