"""The stream hot loop: deadline cadence, one write for the end, no cyclic garbage, replays.

These drive `pace_frames` and `Call` directly through an ASGI `send` that takes its time, the
way a busy event loop does, so the behaviour is visible without a loaded machine. The margins
are wide (tens of milliseconds) because the difference they tell apart is ~200 ms.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import re
import subprocess
import sys
import time
import weakref
from typing import Any

from mockprov_support import REPO

from mock_providers.core.cadence import wakeups
from mock_providers.core.call import Call
from mock_providers.core.replay import StreamReplayEntry
from mock_providers.core.streaming import pace_frames

INTERVAL_S = 0.02
N_PACED = 21  # the role frame and 20 tokens, like a 20-token reply
FRAMES = [b"data: %d\n\n" % i for i in range(N_PACED)] + [b"data: end\n\n", b"data: [DONE]\n\n"]


class SlowServer:
    """An ASGI send that records when each message arrives and holds the loop a while."""

    def __init__(self, busy_s: float, stall_at: int = -1, stall_s: float = 0.0) -> None:
        self.busy_s = busy_s
        self.stall_at = stall_at
        self.stall_s = stall_s
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.hang_up = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append((time.monotonic(), message))
        body_index = sum(1 for _, m in self.messages if m["type"] == "http.response.body") - 1
        # Blocking on purpose: a loop busy with other streams does not run this one's timers.
        time.sleep(self.stall_s if body_index == self.stall_at else self.busy_s)

    async def receive(self) -> dict[str, Any]:
        await self.hang_up.wait()
        return {"type": "http.disconnect"}

    def frame_times(self) -> list[float]:
        return [
            t
            for t, m in self.messages
            if m["type"] == "http.response.body" and m.get("more_body", False)
        ]


def _call(server: SlowServer) -> Call:
    scope = {"type": "http", "method": "POST", "headers": [], "client": ("127.0.0.1", 1)}
    return Call(scope, server.receive, server.send, "/v1/chat/completions", lambda c: [], None)


async def _stream(server: SlowServer) -> Call:
    call = _call(server)
    await call.start_stream()
    await pace_frames(call, FRAMES, N_PACED, 0.0, INTERVAL_S)
    call.finish()
    return call


def test_cadence_does_not_drift_when_sends_are_slow() -> None:
    # Each send holds the loop for half an interval. Sleeping a whole interval after each
    # send would stretch the stream to 20 * 30 ms = 600 ms; deadlines keep it at 400 ms.
    server = SlowServer(busy_s=INTERVAL_S / 2)
    call = asyncio.run(_stream(server))
    times = server.frame_times()
    assert len(times) == N_PACED
    span = times[-1] - times[0]
    expected = (N_PACED - 1) * INTERVAL_S
    assert expected - 0.005 <= span < expected + 0.1, span
    assert call.stream_completed is True


def test_stall_moves_the_schedule_instead_of_bursting() -> None:
    # A 150 ms stall (several intervals) at frame 5: the frames after it keep their spacing
    # rather than going out back to back to make up the lost time.
    server = SlowServer(busy_s=0.0, stall_at=5, stall_s=0.15)
    asyncio.run(_stream(server))
    times = server.frame_times()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[5] >= 0.14  # the stall itself
    assert min(gaps[6:]) >= INTERVAL_S * 0.5, gaps


def test_terminal_frames_and_end_of_body_are_one_write() -> None:
    server = SlowServer(busy_s=0.0)
    asyncio.run(_stream(server))
    bodies = [m for _, m in server.messages if m["type"] == "http.response.body"]
    assert [m["body"] for m in bodies[:N_PACED]] == FRAMES[:N_PACED]
    assert bodies[-1] == {
        "type": "http.response.body",
        "body": b"data: end\n\ndata: [DONE]\n\n",
        "more_body": False,
    }
    assert len(bodies) == N_PACED + 1
    # The bytes on the wire are the frames, in order, exactly.
    assert b"".join(m["body"] for m in bodies) == b"".join(FRAMES)


def test_disconnect_ends_the_stream_early() -> None:
    async def scenario() -> tuple[Call, SlowServer]:
        server = SlowServer(busy_s=0.0)
        call = _call(server)
        await call.start_stream()
        task = asyncio.ensure_future(pace_frames(call, FRAMES, N_PACED, 0.0, INTERVAL_S))
        await asyncio.sleep(INTERVAL_S * 3.5)
        server.hang_up.set()
        await asyncio.wait_for(task, 5.0)
        call.finish()
        return call, server

    call, server = asyncio.run(scenario())
    assert call.stream_completed is False
    assert len(server.frame_times()) < N_PACED


def test_a_finished_stream_leaves_no_cyclic_garbage() -> None:
    # Freed by reference counting alone: with the collector off, nothing of the call survives.
    # (A watcher task that pointed back at its Call made every stream cyclic garbage, and
    # the collector's full passes over it stalled all open streams at once.)
    async def scenario() -> weakref.ref[Call]:
        server = SlowServer(busy_s=0.0)
        call = await _stream(server)
        ref = weakref.ref(call)
        del call
        for _ in range(3):  # let the cancelled watcher task finish
            await asyncio.sleep(0)
        return ref

    gc.collect()
    gc.disable()
    try:
        ref = asyncio.run(scenario())
        assert ref() is None
    finally:
        gc.enable()


def test_serving_process_tunes_the_collector() -> None:
    # In a child process: tune_gc() changes process-wide state.
    code = (
        "import gc\n"
        "from mock_providers.server import GC_YOUNG_THRESHOLD, tune_gc\n"
        "tune_gc()\n"
        "assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD > 700\n"
        "assert gc.get_freeze_count() > 0\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "ok", out.stderr


def _entry(reply_id: str, created: bytes) -> StreamReplayEntry:
    frames = [
        b'data: {"id":"%s","created":%s,"delta":"%d"}\n\n' % (reply_id.encode(), created, i)
        for i in range(5)
    ] + [b"data: [DONE]\n\n"]
    return StreamReplayEntry("/v1/chat/completions", "m", 1, 5, "fp", frames, 5, reply_id)


def _expected(entry: StreamReplayEntry, rendered: list[bytes]) -> list[bytes]:
    """What substituting frame by frame gives, with the id and time the render chose."""
    match = re.search(rb'"id":"([^"]+)","created":(\d+)', rendered[0])
    assert match is not None
    new_id, new_time = match.groups()
    old_time = re.search(rb'"created":(\d+)', entry.frames[0])
    assert old_time is not None
    return [
        f.replace(entry.reply_id.encode(), new_id).replace(
            b'"created":' + old_time.group(1), b'"created":' + new_time
        )
        for f in entry.frames
    ]


def test_stream_replay_render_substitutes_id_and_time_in_every_frame() -> None:
    entry = _entry("chatcmpl-61bfa268db36a6a99a53a901", b"1700000000")
    first, second = entry.render(), entry.render()
    assert first == _expected(entry, first)
    assert first[0] != entry.frames[0] and first[1:] != entry.frames[1:]
    assert first[0] != second[0]  # a fresh id every time
    assert first[-1] == b"data: [DONE]\n\n"
    # A stored time of another length (the cuts move): still frame by frame, still exact.
    short = _entry("chatcmpl-61bfa268db36a6a99a53a901", b"17")
    rendered = short.render()
    assert rendered == _expected(short, rendered)


def test_wakeups_share_a_timer_per_millisecond_and_survive_a_cancel() -> None:
    async def scenario() -> tuple[int, list[float], bool]:
        loop = asyncio.get_running_loop()
        shared = wakeups()
        assert wakeups() is shared  # one per loop
        # On a whole millisecond, so due + 0.1 ms rounds into the same slot (slots are
        # round(when * 1000): a due time near x.5 ms would put the last waiter in the next one).
        due = (round(loop.time() * 1000.0) + 50) / 1000.0
        waiters = [shared.at(due) for _ in range(10)] + [shared.at(due + 0.0001)]
        slots = len(shared._slots)
        waiters[3].cancel()  # one stream goes away: the others still wake
        woke: list[float] = []
        for i, waiter in enumerate(waiters):
            if i != 3:
                await waiter
                woke.append(loop.time())
        return slots, [t - due for t in woke], waiters[3].cancelled()

    slots, lateness, cancelled = asyncio.run(scenario())
    assert slots == 1  # 11 waiters within the same millisecond: one loop timer
    assert cancelled
    assert len(lateness) == 10
    assert min(lateness) >= -0.0011  # never more than the rounding early
