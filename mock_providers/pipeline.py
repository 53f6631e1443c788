"""The provider-neutral life of a chat call: faults, timing, the reply, and sending it.

Both wire formats run the same steps: resolve the model, draw the fault decisions, refuse the
call (context length, deprecation, errors, rate limits, resets, safety 400) or plan a reply (text
or tool call, maybe wrong, filtered or refused), wait like the model would, then send it whole or
as a stream with the stream faults applied. Only the rendering differs, behind `ChatFormat`.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from mock_providers.answers import AnswerEngine
from mock_providers.call import Call, Headers
from mock_providers.drift import Frame, apply_body_drift, apply_frame_drift
from mock_providers.faults import Fault
from mock_providers.models import ModelSpec
from mock_providers.tokenizer import TokenizerProfile
from mock_providers.wire import (
    HTML_CT,
    ChatRequest,
    Reply,
    WireError,
    edge_html,
)

JSON_CT = b"application/json"
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


class ChatFormat(Protocol):
    """How one provider renders the pipeline's outcomes on the wire."""

    provider: str

    def wire_error(self, err: WireError) -> bytes: ...
    def bad_json(self) -> WireError: ...
    def status_error(self, status: int, message: str) -> bytes: ...
    def model_not_found(self, model: str) -> WireError: ...
    def model_deprecated(self, model: str) -> WireError: ...
    def context_length(self, window: int, tokens: int) -> WireError: ...
    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]: ...
    def safety_400(self) -> bytes: ...
    def tool_id(self) -> str: ...
    def body(self, reply: Reply, model: str) -> dict[str, Any]: ...
    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]: ...
    def body_frames(self, frames: list[Frame]) -> int: ...
    def encode(self, frame: Frame) -> bytes: ...
    def error_frame(self, error_type: str) -> bytes: ...
    def malformed_frame(self) -> bytes: ...


@dataclass
class Engine:
    """What the pipeline needs from the mock: models, answers, tokenizer, timing randomness."""

    models: dict[str, ModelSpec]
    answers: AnswerEngine
    tokenizer: TokenizerProfile
    timing_rng: random.Random
    record_usage: Callable[[int], None] = field(default=lambda tokens: None)


def _first(fired: list[Fault], kind: str) -> Fault | None:
    return next((f for f in fired if f.type == kind), None)


def _note(call: Call, fault: Fault) -> None:
    if fault.name not in call.faults:
        call.faults.append(fault.name)


async def send_wire_error(call: Call, fmt: ChatFormat, err: WireError) -> None:
    await call.respond(err.status, fmt.wire_error(err), JSON_CT)


async def serve_chat(
    call: Call, fmt: ChatFormat, engine: Engine, req: ChatRequest, fired: list[Fault]
) -> None:
    """Serve one validated chat request, given the faults that fired for it."""
    spec = engine.models.get(req.model)
    if spec is None or spec.kind != "chat":
        await send_wire_error(call, fmt, fmt.model_not_found(req.model))
        return
    tokenizer = engine.tokenizer
    window = spec.context_window
    tokens_in = req.tokens_in
    tok_fault = _first(fired, "tokenizer")
    if tok_fault is not None:
        _note(call, tok_fault)
        tokenizer = TokenizerProfile(tok_fault.params["piece_chars"], tok_fault.params["scale"])
        tokens_in = max(1, math.ceil(tokens_in * tok_fault.params["scale"]))
        if tok_fault.params["context_window"] is not None:
            window = tok_fault.params["context_window"]
    call.tokens_in = tokens_in
    if tokens_in > window:
        await send_wire_error(call, fmt, fmt.context_length(window, tokens_in))
        return
    if await reject(call, fmt, req.model, tokens_in, req.max_tokens, fired):
        return
    engine.record_usage(tokens_in)
    reply = plan_reply(fmt, engine, req, spec, tokenizer, tokens_in, fired, call)
    call.tokens_out = reply.tokens_out
    wait_s = pre_response_delay(engine, fired, call)
    if req.stream:
        await _send_stream(call, fmt, engine, spec, req, reply, fired, wait_s)
    else:
        await _send_whole(call, fmt, spec, req, reply, fired, wait_s)


async def reject(
    call: Call,
    fmt: ChatFormat,
    model: str | None,
    tokens_in: int,
    max_tokens: int | None,
    fired: list[Fault],
) -> bool:
    """Apply the first refusing fault that fired; True when the call was answered."""
    for fault in fired:
        kind = fault.type
        p = fault.params
        if kind == "deprecation":
            _note(call, fault)
            await send_wire_error(call, fmt, fmt.model_deprecated(model or ""))
            return True
        if kind == "error":
            _note(call, fault)
            await _send_status_error(call, fmt, fault)
            return True
        if kind == "rate_limit":
            if await _rate_limit(call, fmt, fault, model or "", tokens_in + (max_tokens or 0)):
                return True
            continue
        if kind == "connection_reset" and p["after_chunks"] is None:
            _note(call, fault)
            await call.reset()
            return True
        if kind == "safety" and p["mode"] == "azure_400":
            _note(call, fault)
            await call.respond(400, fmt.safety_400(), JSON_CT)
            return True
    return False


def _retry_headers(seconds: float | None, which: str = "both") -> Headers:
    if seconds is None:
        return []
    out: Headers = []
    if which in ("both", "seconds"):
        text = f"{seconds:g}" if seconds != int(seconds) else str(int(seconds))
        out.append((b"retry-after", text.encode()))
    if which in ("both", "ms"):
        out.append((b"retry-after-ms", str(round(seconds * 1000)).encode()))
    return out


async def _send_status_error(call: Call, fmt: ChatFormat, fault: Fault) -> None:
    p = fault.params
    status = p["status"]
    extra = _retry_headers(p["retry_after_s"])
    if p["should_retry"]:
        extra.append((b"x-should-retry", p["should_retry"].encode()))
    html = p["html"] == "true" or (p["html"] == "auto" and status in (502, 504))
    if html:
        await call.respond(status, edge_html(status), HTML_CT, extra)
    else:
        await call.respond(status, fmt.status_error(status, p["message"]), JSON_CT, extra)


async def _rate_limit(call: Call, fmt: ChatFormat, fault: Fault, model: str, tokens: int) -> bool:
    p = fault.params
    kind = "insufficient_quota" if p["quota"] else "requests"
    retry_s: float | None = p["retry_after_s"]
    limit, used, requested = 500, 500, 1
    if fault.buckets:
        now = time.monotonic()
        waits = []
        for unit, bucket in fault.buckets:
            amount = 1.0 if unit == "requests" else float(tokens)
            waits.append((bucket.take(amount, now), unit, bucket, amount))
        refused = [w for w in waits if w[0] > 0]
        if not refused:
            return False
        wait, unit, bucket, amount = max(refused, key=lambda w: w[0])
        if unit == "tokens":
            kind = "insufficient_quota" if p["quota"] else "tokens"
        limit = int(bucket.limit)
        used = int(bucket.limit) - int(bucket.level)
        requested = int(amount)
        retry_s = round(wait, 3) if p["retry_after_s"] is not None else None
    _note(call, fault)
    status, body = fmt.rate_limit(model, kind, limit, used, requested, retry_s)
    await call.respond(status, body, JSON_CT, _retry_headers(retry_s, p["retry_after_header"]))
    return True


def plan_reply(
    fmt: ChatFormat,
    engine: Engine,
    req: ChatRequest,
    spec: ModelSpec,
    tokenizer: TokenizerProfile,
    tokens_in: int,
    fired: list[Fault],
    call: Call,
) -> Reply:
    """What the model says: refusal, filtered, tool call, or (maybe wrong) text."""
    safety = _first(fired, "safety")
    if safety is not None:
        _note(call, safety)
        if safety.params["mode"] == "refusal":
            return Reply(
                None, [], "refusal", tokens_in, tokenizer.count(REFUSAL_TEXT), refusal=REFUSAL_TEXT
            )
        return Reply(None, [], "content_filter", tokens_in, 0)
    if req.wants_tool_call():
        tools = req.tools
        if req.forced_tool is not None:
            tools = [t for t in tools if t.name == req.forced_tool]
        name, args = engine.answers.tool_call(
            [{"name": t.name, "schema": t.schema} for t in tools], req.question
        )
        tokens_out = tokenizer.count(name) + tokenizer.count(orjson.dumps(args).decode()) + 6
        return Reply(
            None,
            [],
            "tool_calls",
            tokens_in,
            tokens_out,
            tool_name=name,
            tool_args=args,
            tool_id=fmt.tool_id(),
        )
    wrong = _first(fired, "wrong_answer")
    if wrong is not None:
        _note(call, wrong)
    question = req.question
    if req.after_tool_result:
        question = f"{req.question}\n{req.tool_result_text}"
    text = engine.answers.answer(question, wrong=wrong is not None)
    pieces = tokenizer.pieces(text)
    finish = "stop"
    limit = min(req.max_tokens or spec.max_output_tokens, spec.max_output_tokens)
    if len(pieces) > limit:
        pieces = pieces[:limit]
        text = "".join(pieces)
        finish = "length"
    return Reply(text, pieces, finish, tokens_in, tokenizer.count(text))


def pre_response_delay(engine: Engine, fired: list[Fault], call: Call) -> float:
    """Seconds of extra wait before the response starts (latency faults)."""
    extra_ms = 0.0
    for fault in fired:
        p = fault.params
        if fault.type == "latency":
            _note(call, fault)
            extra_ms += p["ms"] + (
                engine.timing_rng.uniform(0, p["jitter_ms"]) if p["jitter_ms"] else 0.0
            )
        elif fault.type == "slow_drift":
            _note(call, fault)
            age_s = time.monotonic() - fault.applied_at
            extra_ms += min(p["max_ms"], p["ms_per_s"] * age_s)
    return extra_ms / 1000.0


def _ttft_s(engine: Engine, spec: ModelSpec, fired: list[Fault], call: Call) -> float:
    ms = spec.ttft_ms
    if spec.jitter_ms:
        ms += engine.timing_rng.uniform(0, spec.jitter_ms)
    slow = _first(fired, "slow_first_token")
    if slow is not None:
        _note(call, slow)
        ms += slow.params["ms"]
    return ms / 1000.0


def _interval_s(spec: ModelSpec, fired: list[Fault], call: Call) -> float:
    cadence = _first(fired, "slow_cadence")
    if cadence is not None:
        _note(call, cadence)
        return float(cadence.params["interval_ms"]) / 1000.0
    return 1.0 / spec.tokens_per_s if spec.tokens_per_s > 0 else 0.0


async def _send_whole(
    call: Call,
    fmt: ChatFormat,
    spec: ModelSpec,
    req: ChatRequest,
    reply: Reply,
    fired: list[Fault],
    wait_s: float,
) -> None:
    engine_wait = wait_s + _ttft_s_nonstream(spec, fired, call)
    interval = _interval_s(spec, fired, call)
    engine_wait += interval * max(1, reply.tokens_out)
    if engine_wait > 0:
        await call.pause(engine_wait)
        if call.disconnected:
            call.status = 499
            return
    body = fmt.body(reply, req.model)
    drift = _first(fired, "drift")
    if drift is not None:
        _note(call, drift)
        ctype, raw = apply_body_drift(fmt.provider, drift.params["profile"], body)
        await call.respond(200, raw, ctype)
        return
    await call.respond(200, orjson.dumps(body), JSON_CT)


def _ttft_s_nonstream(spec: ModelSpec, fired: list[Fault], call: Call) -> float:
    ms = spec.ttft_ms
    slow = _first(fired, "slow_first_token")
    if slow is not None:
        _note(call, slow)
        ms += slow.params["ms"]
    return ms / 1000.0


async def _send_stream(
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
    drift = _first(fired, "drift")
    encoded: list[bytes] | None = None
    if drift is not None:
        _note(call, drift)
        encoded = apply_frame_drift(fmt.provider, drift.params["profile"], frames, fmt.encode)
    if encoded is None:
        encoded = [fmt.encode(f) for f in frames]
    n_body = min(n_body, len(encoded))
    # A fault due after more frames than the reply has happens before the terminal frame, so
    # it always has its effect (and the journal's `fault` is always true).
    due: dict[int, list[Fault]] = {}
    for fault in fired:
        if fault.type in _STREAM_FAULTS and fault.params["after_chunks"] is not None:
            due.setdefault(min(fault.params["after_chunks"], n_body), []).append(fault)
    await call.start_stream()
    ttft = _ttft_s(engine, spec, fired, call)
    if ttft > 0:
        await call.pause(ttft)
    interval = _interval_s(spec, fired, call)
    for index in range(len(encoded) + 1):
        if call.disconnected:
            call.stream_completed = False
            return
        for fault in due.get(index, ()):
            if await _stream_fault(call, fmt, fault) == "stop":
                return
        if index == len(encoded):
            break
        if index and interval > 0 and index < n_body:
            await call.pause(interval)
        await call.frame(encoded[index])
    await call.end_stream(completed=True)


_STREAM_FAULTS = (
    "stream_stall",
    "stream_truncate",
    "connection_reset",
    "malformed_frame",
    "stream_error",
)


async def _stream_fault(call: Call, fmt: ChatFormat, fault: Fault) -> str:
    """Apply a mid-stream fault; "stop" when the stream is over."""
    _note(call, fault)
    kind = fault.type
    if kind == "stream_stall":
        await call.pause(fault.params["stall_s"])
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


async def serve_simple(
    call: Call,
    fmt: ChatFormat,
    engine: Engine,
    fired: list[Fault],
    model: str | None,
    tokens_in: int,
) -> bool:
    """Refusing and latency faults for non-chat endpoints; True when the call was answered."""
    if await reject(call, fmt, model, tokens_in, None, fired):
        return True
    delay = pre_response_delay(engine, fired, call)
    if delay > 0:
        await call.pause(delay)
    return False
