"""Sending streams: frames at the model's pace, and the mid-stream faults.

The hot loop (`pace_frames`) is what thousands of concurrent streams run, so it stays lean;
streams with a fault due use the general loop, which applies each fault before the frame it is
due at (never after the terminal frames, so a fault always has its effect).
"""

from __future__ import annotations

import asyncio

from mock_providers.core.cadence import wakeups
from mock_providers.core.call import Call
from mock_providers.core.drift import apply_frame_drift
from mock_providers.core.engine import (
    ChatFormat,
    Engine,
    first_of,
    interval_seconds,
    note,
    ttft_seconds,
)
from mock_providers.core.faults import Fault
from mock_providers.core.models import ModelSpec
from mock_providers.core.replay import StreamReplayEntry
from mock_providers.core.wire import ChatRequest, Frame, Reply


async def send_stream(
    call: Call,
    fmt: ChatFormat,
    engine: Engine,
    spec: ModelSpec,
    req: ChatRequest,
    reply: Reply,
    fired: list[Fault],
    wait_s: float,
) -> None:
    call.stream = True
    if wait_s > 0:
        await call.pause(wait_s)
    frames = fmt.frames(reply, req.model, req.include_usage)
    n_body = fmt.body_frames(frames)
    drift = first_of(fired, "drift")
    encoded: list[bytes] | None = None
    if drift is not None:
        note(call, drift)
        encoded = apply_frame_drift(fmt.provider, drift.params["profile"], frames, fmt.encode)
    if encoded is None:
        encoded = [fmt.encode(f) for f in frames]
    n_body = min(n_body, len(encoded))
    # A fault due after more frames than the reply has happens before the terminal frame, so
    # it always has its effect (and the journal's `fault` is always true).
    due: dict[int, list[Fault]] = {}
    for fault in fired:
        if fault.type in STREAM_FAULTS and fault.params["after_chunks"] is not None:
            due.setdefault(min(fault.params["after_chunks"], n_body), []).append(fault)
    if not fired:
        call.replayable_stream = (encoded, n_body, frame_id(frames))
    await call.start_stream()
    ttft = ttft_seconds(engine, spec, fired, call)
    interval = interval_seconds(spec, fired, call)
    if not due:
        await pace_frames(call, encoded, n_body, ttft, interval)
        return
    if ttft > 0:
        await call.pause(ttft)
    for index in range(len(encoded) + 1):
        if call.disconnected:
            call.stream_completed = False
            return
        for fault in due.get(index, ()):
            if await stream_fault(call, fmt, fault) == "stop":
                return
        if index == len(encoded):
            break
        if index and interval > 0 and index < n_body:
            await call.pause(interval)
        await call.frame(encoded[index])
    await call.end_stream(completed=True)


async def pace_frames(
    call: Call, encoded: list[bytes], n_body: int, ttft_s: float, interval_s: float
) -> None:
    """Send a stream's frames at the model's pace (the no-fault hot loop).

    Frame k of the body is due `k * interval_s` after the first one (absolute deadlines), so
    a late wake-up shortens the next gap instead of delaying every later frame: the cadence
    does not drift under load. A frame more than a whole interval late (a stall of the whole
    process) moves the schedule rather than bursting frames to catch up. Short gaps wait on
    the loop's shared per-millisecond wake-ups (`cadence`), not a timer per frame. The
    terminal frames are not paced; they go out in one write with the end of the body.
    """
    if ttft_s > 0:
        await call.pause(ttft_s)
    # Thousands of streams run this loop at once: talk to the event loop and the server
    # directly instead of through Call's helpers.
    gone = call.gone()
    send = call.send
    clock = asyncio.get_running_loop().time
    wake_at = wakeups().at
    short = 0 < interval_s < 0.5
    paced = min(n_body, len(encoded))
    due = clock()
    for index in range(paced):
        if index and interval_s > 0:
            due += interval_s
            delay = due - clock()
            if delay > 0:
                if short:
                    await wake_at(due)
                else:
                    await call.pause(delay)
            elif delay < -interval_s:
                due -= delay
        if gone.is_set():
            call.stream_completed = False
            return
        await send({"type": "http.response.body", "body": encoded[index], "more_body": True})
    if gone.is_set():
        call.stream_completed = False
        return
    await call.end_stream(completed=True, tail=b"".join(encoded[paced:]))


async def replay_stream(call: Call, engine: Engine, entry: StreamReplayEntry) -> None:
    """Serve a stream identical to an earlier one (no faults active) from its frames."""
    spec = engine.models.get(entry.model)
    assert spec is not None  # replayed only for a model that answered
    call.model, call.tokens_in, call.tokens_out = entry.model, entry.tokens_in, entry.tokens_out
    call.stream = True
    engine.record_usage(entry.tokens_in)
    await call.start_stream()
    await pace_frames(
        call,
        entry.render(),
        entry.n_body,
        ttft_seconds(engine, spec, [], call),
        interval_seconds(spec, [], call),
    )


def frame_id(frames: list[Frame]) -> str:
    """The reply id carried by the first frame (chunk id, message id or response id)."""
    payload = frames[0][1] if frames else None
    if not isinstance(payload, dict):
        return ""
    for holder in (payload, payload.get("message"), payload.get("response")):
        if isinstance(holder, dict) and isinstance(holder.get("id"), str):
            return str(holder["id"])
    return ""


STREAM_FAULTS = (
    "stream_stall",
    "stream_truncate",
    "connection_reset",
    "malformed_frame",
    "stream_error",
)


async def stream_fault(call: Call, fmt: ChatFormat, fault: Fault) -> str:
    """Apply a mid-stream fault; "stop" when the stream is over."""
    note(call, fault)
    kind = fault.type
    if kind == "stream_stall":
        await call.pause(fault.params["stall_s"] * fault.magnitude())
        if fault.params["then"] == "close" or call.disconnected:
            await call.end_stream(completed=False)
            return "stop"
        return "go"
    if kind == "stream_truncate":
        await call.end_stream(completed=False)
        return "stop"
    if kind == "connection_reset":
        await call.reset()
        call.stream_completed = False
        return "stop"
    if kind == "malformed_frame":
        await call.frame(fmt.malformed_frame())
        return "go"
    # stream_error: the error event, then a clean end (that is how the providers do it)
    await call.frame(fmt.error_frame(fault.params["error_type"]))
    await call.end_stream(completed=False)
    return "stop"
