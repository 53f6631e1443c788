"""An in-process job queue with leases, the way SQS-style queues hand out work.

A worker that takes a job holds a *lease* on it for ``lease_s``; when the lease expires before
the job is acknowledged, the queue assumes the worker died and delivers the job again. That is
the mechanism behind duplicated jobs: a provider that slows down past the lease makes every job
run twice (or more), each run a full provider call, which slows the provider further.

Jobs are ordered by priority rank (lower first), then by arrival.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Job:
    id: str
    text: str
    priority: int  # 0 interactive, 1 batch
    request_id: str
    traceparent: str | None
    idempotency_key: str | None = None
    done: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    attempts: int = 0  # provider calls made for this job, every delivery included
    deliveries: int = 0  # times a worker took it
    not_before: float = 0.0  # retry queue: earliest time to run again
    lease_expires: float = 0.0


class Broker:
    """A priority queue of jobs plus the leases of the jobs being worked on."""

    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self._queue: asyncio.PriorityQueue[tuple[int, int, Job]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._leased: dict[int, Job] = {}
        self.redeliveries = 0

    def depth(self) -> int:
        return self._queue.qsize()

    def put(self, job: Job) -> None:
        self._queue.put_nowait((job.priority, next(self._seq), job))

    async def take(self) -> tuple[int, Job]:
        """The next job and its lease token."""
        while True:
            _, _, job = await self._queue.get()
            if job.done.done():
                continue  # acknowledged while it waited for redelivery
            job.deliveries += 1
            token = next(self._seq)
            job.lease_expires = time.monotonic() + self.lease_s
            self._leased[token] = job
            return token, job

    def extend(self, token: int) -> None:
        """Heartbeat: the worker is alive and still on it."""
        job = self._leased.get(token)
        if job is not None:
            job.lease_expires = time.monotonic() + self.lease_s

    def ack(self, token: int) -> None:
        self._leased.pop(token, None)

    def reap(self) -> None:
        """Deliver again every unacknowledged job whose lease has expired."""
        now = time.monotonic()
        for token, job in list(self._leased.items()):
            if job.lease_expires <= now:
                del self._leased[token]
                if not job.done.done():
                    self.redeliveries += 1
                    self.put(job)
