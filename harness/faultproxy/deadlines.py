"""Sleep until an absolute ``time.monotonic()`` deadline, to the microsecond, without spinning.

The latency toxic delays every chunk until *arrival + latency*. The event loop's own timers
cannot say that precisely: uvloop rounds a delay to whole milliseconds and counts it from a
loop clock truncated to the millisecond and read at the start of the loop iteration, so a
timer fires up to a millisecond or more early or late. Waking early and then yielding to the
loop until the deadline (what the fault proxy did before) is exact, but it keeps the process
running for up to a millisecond per delayed chunk: CPU spent on nothing, and on a shared
machine a process that runs when it only needs to wait is the first to lose its core.

On Linux a ``timerfd`` does it properly: one per event loop, armed (``TFD_TIMER_ABSTIME`` on
``CLOCK_MONOTONIC``, the clock of ``time.monotonic()``) for the earliest pending deadline, and
watched by the loop like a socket. The kernel wakes the loop when that deadline is reached,
with its hrtimer precision; every deadline that has passed is then woken, and the timer
re-armed for the next.

Elsewhere, or if ``timerfd_create`` cannot be called, :func:`sleep_until` falls back to the
loop's timers with the early-wake check.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import os
import sys
import weakref
from time import monotonic

__all__ = ["sleep_until"]

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_create.restype = ctypes.c_int
        libc.timerfd_settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
        libc.timerfd_settime.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


_libc = _load_libc()


class _DeadlineTimer:
    """The pending deadlines of one event loop, on one timerfd armed for the earliest.

    The timerfd is made with the loop's first sleep and stays open, disarmed while nothing
    waits (a disarmed timerfd costs nothing), until the loop is garbage-collected. The timer
    only holds a weak reference to its loop, so the loop (the key of ``_timers``) can go.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL) -> None:
        self._loop = weakref.ref(loop)
        self._libc = libc
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._fd = -1
        self._armed = 0.0
        """The deadline the timerfd is set for (0: not armed)."""
        self._spec = _Itimerspec()

    def wait(self, loop: asyncio.AbstractEventLoop, deadline: float) -> asyncio.Future[None]:
        """A future done once ``monotonic()`` reached ``deadline``."""
        if self._fd < 0:
            self._open(loop)
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._heap, (deadline, next(self._order), future))
        if self._armed == 0.0 or deadline < self._armed:
            self._arm(deadline)
        return future

    def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        try:
            loop.add_reader(fd, self._fired)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        weakref.finalize(loop, os.close, fd)

    def _arm(self, deadline: float) -> None:
        seconds = int(deadline)
        value = self._spec.it_value
        value.tv_sec = seconds
        # Rounded up: the timer must never fire before the deadline.
        value.tv_nsec = min(999_999_999, int((deadline - seconds) * 1e9) + 1)
        if self._libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, self._spec, None) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
        self._armed = deadline

    def _fired(self) -> None:
        # The expiry count; reading only clears readability (none left: it was re-armed for
        # a later deadline after it became readable).
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)
        self._armed = 0.0
        heap = self._heap
        now = monotonic()
        # Cancelled sleeps stay in the heap until they reach its top, then go unwoken.
        while heap and (heap[0][0] <= now or heap[0][2].done()):
            future = heapq.heappop(heap)[2]
            if not future.done():
                future.set_result(None)
        if heap:
            self._arm(heap[0][0])


_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _DeadlineTimer] = (
    weakref.WeakKeyDictionary()
)


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` (an absolute time).

    The deadline is absolute, so the time spent reading, handing over and writing a chunk is
    not added to its delay. A cancelled sleep leaves its entry in the heap, dropped when it
    reaches the top.
    """
    if deadline <= monotonic():
        return
    loop = asyncio.get_running_loop()
    if _libc is not None:
        timer = _timers.get(loop)
        if timer is None:
            timer = _timers[loop] = _DeadlineTimer(loop, _libc)
        try:
            future = timer.wait(loop, deadline)
        except (OSError, NotImplementedError):
            pass  # no timerfd here (or a loop without add_reader): the loop's timers
        else:
            await future
            return
    await _sleep_with_loop_timers(deadline)


async def _sleep_with_loop_timers(deadline: float) -> None:
    """The fallback: the loop's timers, re-checked after each wake-up (they may fire up to a
    millisecond early), the remainder slept or, below their resolution, yielded away."""
    loop = asyncio.get_running_loop()
    while (wait := deadline - monotonic()) > 0:
        woken: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(wait, _set_done, woken)
        try:
            await woken
        finally:
            timer.cancel()


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
