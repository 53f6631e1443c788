"""The provider-neutral life of a chat call: faults, timing, the reply, and sending it.

Both wire formats run the same steps: resolve the model, draw the fault decisions, refuse the
call (context length, deprecation, errors, rate limits, resets, safety 400) or plan a reply (text
or tool call, maybe wrong, filtered or refused), wait like the model would, then send it whole or
as a stream with the stream faults applied. Only the rendering differs, behind `ChatFormat`.
"""

from __future__ import annotations

import math
import time

import orjson

from mock_providers.core.call import Call, Headers
from mock_providers.core.drift import apply_body_drift
from mock_providers.core.engine import (
    JSON_CT,
    ChatFormat,
    Engine,
    first_of,
    interval_seconds,
    note,
    pre_response_delay,
    ttft_seconds,
)
from mock_providers.core.faults import Fault
from mock_providers.core.models import ModelSpec
from mock_providers.core.ratelimit import DEFAULT_RPM
from mock_providers.core.replay import ReplayEntry
from mock_providers.core.streaming import send_stream
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import HTML_CT, ChatRequest, Reply, WireError, edge_html

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


async def send_wire_error(call: Call, fmt: ChatFormat, err: WireError) -> None:
    await call.respond(err.status, fmt.wire_error(err), JSON_CT)


async def serve_chat(
    call: Call, fmt: ChatFormat, engine: Engine, req: ChatRequest, fired: list[Fault]
) -> None:
    """Serve one validated chat request, given the faults that fired for it."""
    spec = engine.models.get(req.model)
    if spec is None:
        await send_wire_error(call, fmt, fmt.model_not_found(req.model))
        return
    tokenizer = engine.tokenizer
    window = spec.context_window
    tokens_in = req.tokens_in
    tok_fault = first_of(fired, "tokenizer")
    if tok_fault is not None:
        note(call, tok_fault)
        tokenizer = TokenizerProfile(tok_fault.params["piece_chars"], tok_fault.params["scale"])
        tokens_in = max(1, math.ceil(tokens_in * tok_fault.params["scale"]))
        if tok_fault.params["context_window"] is not None:
            window = tok_fault.params["context_window"]
    call.tokens_in = tokens_in
    if tokens_in > window:
        await send_wire_error(call, fmt, fmt.context_length(window, tokens_in))
        return
    if engine.account.enforced and await account_limit(
        call, fmt, engine, req.model, tokens_in + (req.max_tokens or 0)
    ):
        return
    if await reject(call, fmt, req.model, tokens_in, req.max_tokens, fired, engine):
        return
    if not engine.account.enforced:
        engine.record_usage(tokens_in)
    reply = plan_reply(fmt, engine, req, spec, tokenizer, tokens_in, fired, call)
    call.tokens_out = reply.tokens_out
    wait_s = pre_response_delay(engine, fired, call)
    if req.stream:
        await send_stream(call, fmt, engine, spec, req, reply, fired, wait_s)
    else:
        await _send_whole(call, fmt, engine, spec, req, reply, fired, wait_s)


async def account_limit(
    call: Call, fmt: ChatFormat, engine: Engine, model: str, tokens: int
) -> bool:
    """The 429 of an enforced per-key limit (`capacity.rpm`/`tpm`); True when refused."""
    refusal = engine.account.charge(call.api_key, tokens)
    if refusal is None:
        return False
    retry_s = round(refusal.retry_s, 3)
    status, body = fmt.rate_limit(
        model, refusal.unit, refusal.limit, refusal.used, refusal.requested, retry_s
    )
    await call.respond(status, body, JSON_CT, _retry_headers(retry_s))
    return True


async def reject(
    call: Call,
    fmt: ChatFormat,
    model: str | None,
    tokens_in: int,
    max_tokens: int | None,
    fired: list[Fault],
    engine: Engine | None = None,
) -> bool:
    """Apply the first refusing fault that fired; True when the call was answered."""
    for fault in fired:
        kind = fault.type
        p = fault.params
        if kind == "deprecation":
            note(call, fault)
            await send_wire_error(call, fmt, fmt.model_deprecated(model or ""))
            return True
        if kind == "error":
            note(call, fault)
            await _send_status_error(call, fmt, fault)
            return True
        if kind == "rate_limit":
            tokens = tokens_in + (max_tokens or 0)
            if await _rate_limit(call, fmt, fault, model or "", tokens, engine):
                return True
            continue
        if kind == "connection_reset" and p["after_chunks"] is None:
            note(call, fault)
            await call.reset()
            return True
        if kind == "safety" and p["mode"] == "azure_400":
            note(call, fault)
            await call.respond(fmt.safety_status, fmt.safety_400(), JSON_CT)
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


async def _rate_limit(
    call: Call, fmt: ChatFormat, fault: Fault, model: str, tokens: int, engine: Engine | None
) -> bool:
    p = fault.params
    kind = "insufficient_quota" if p["quota"] else "requests"
    retry_s: float | None = p["retry_after_s"]
    # Without its own buckets the fault reports the account's true request bucket.
    limit, used, requested = DEFAULT_RPM, 0, 1
    if engine is not None:
        if engine.account.enforced:
            bucket = engine.account.buckets(call.api_key).requests
            limit, used = int(bucket.limit), int(bucket.limit - bucket.remaining())
        else:
            limit, used = engine.account.request_state()
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
    note(call, fault)
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
    safety = first_of(fired, "safety")
    if safety is not None:
        note(call, safety)
        if safety.params["mode"] == "refusal":
            return Reply(
                None, [], "refusal", tokens_in, tokenizer.count(REFUSAL_TEXT), refusal=REFUSAL_TEXT
            )
        return Reply(None, [], "content_filter", tokens_in, 0)
    thinking = engine.answers.thoughts(req.question) if req.thinking else None
    thinking_tokens = tokenizer.count(thinking) if thinking else 0
    if req.wants_tool_call():
        tools = req.tools
        if req.forced_tool is not None:
            tools = [t for t in tools if t.name == req.forced_tool]
        name, args = engine.answers.tool_call(
            [{"name": t.name, "schema": t.schema} for t in tools], req.question
        )
        tokens_out = tokenizer.count(name) + tokenizer.count(orjson.dumps(args).decode()) + 6
        tokens_out += thinking_tokens
        return Reply(
            None,
            [],
            "tool_calls",
            tokens_in,
            tokens_out,
            tool_name=name,
            tool_args=args,
            tool_id=fmt.tool_id(),
            thinking=thinking,
        )
    wrong = first_of(fired, "wrong_answer")
    if wrong is not None:
        note(call, wrong)
    question = req.question
    if req.after_tool_result:
        question = f"{req.question}\n{req.tool_result_text}"
    parts = engine.answers.answer_parts(question, wrong=wrong is not None)
    text = "".join(parts)
    pieces = tokenizer.pieces_of(parts)  # = tokenizer.pieces(text), without splitting it all
    finish = "stop"
    limit = min(req.max_tokens or spec.max_output_tokens, spec.max_output_tokens)
    if len(pieces) > limit:
        pieces = pieces[:limit]
        text = "".join(pieces)
        finish = "length"
        tokens_out = tokenizer.count(text) + thinking_tokens
    else:
        tokens_out = tokenizer.scaled(len(pieces)) + thinking_tokens
    return Reply(text, pieces, finish, tokens_in, tokens_out, thinking=thinking)


async def _send_whole(
    call: Call,
    fmt: ChatFormat,
    engine: Engine,
    spec: ModelSpec,
    req: ChatRequest,
    reply: Reply,
    fired: list[Fault],
    wait_s: float,
) -> None:
    engine_wait = wait_s + ttft_seconds(engine, spec, fired, call)
    interval = interval_seconds(spec, fired, call)
    engine_wait += interval * max(1, reply.tokens_out)
    if engine_wait > 0:
        await call.pause(engine_wait)
        if call.disconnected:
            call.status = 0  # the client hung up before any response was sent
            return
    body = fmt.body(reply, req.model)
    drift = first_of(fired, "drift")
    if drift is not None:
        note(call, drift)
        ctype, raw = apply_body_drift(fmt.provider, drift.params["profile"], body)
        await call.respond(200, raw, ctype)
        return
    raw = orjson.dumps(body)
    if not fired and isinstance(body.get("id"), str):
        reply_id: str = body["id"]
        call.replayable = (raw, reply_id)
    await call.respond(200, raw, JSON_CT)


async def replay_whole(call: Call, engine: Engine, entry: ReplayEntry) -> None:
    """An identical earlier reply, sent after the time the model takes (no fault fired)."""
    spec = engine.models.get(entry.model or "")
    assert spec is not None  # replayed only for a model that answered
    call.model, call.tokens_in, call.tokens_out = entry.model, entry.tokens_in, entry.tokens_out
    engine.record_usage(entry.tokens_in)
    wait = ttft_seconds(engine, spec, [], call)
    wait += interval_seconds(spec, [], call) * max(1, entry.tokens_out)
    await call.pause(wait)
    if call.disconnected:
        call.status = 0
        return
    await call.respond(200, entry.render(), JSON_CT)


async def serve_simple(
    call: Call,
    fmt: ChatFormat,
    engine: Engine,
    fired: list[Fault],
    model: str | None,
    tokens_in: int,
) -> bool:
    """Refusing and latency faults for non-chat endpoints; True when the call was answered."""
    if await reject(call, fmt, model, tokens_in, None, fired, engine):
        return True
    delay = pre_response_delay(engine, fired, call)
    if delay > 0:
        await call.pause(delay)
    return False
