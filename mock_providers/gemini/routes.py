"""The Gemini API endpoints: `models/{model}:generateContent`, `:streamGenerateContent`
(`alt=sse`), `:countTokens`, and the models list, under `/v1beta` (the SDK's default) or `/v1`.

The model is part of the path, so routes resolve by pattern; `x-goog-api-key` or `?key=` is
required, as the real front door requires one.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import orjson

from mock_providers.core.call import Call, Headers
from mock_providers.core.engine import JSON_CT, decide
from mock_providers.core.flavour import FlavourSpec, Handler, Provider
from mock_providers.core.pipeline import serve_chat, serve_simple
from mock_providers.core.ratelimit import AccountLimits
from mock_providers.core.wire import WireError
from mock_providers.gemini import wire

FORMAT = wire.GeminiFormat()
_MODEL_CALL = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+):([A-Za-z]+)$")
_MODEL = re.compile(r"^/(v1|v1beta|v1alpha)/models/([^/:]+)$")
_LIST = re.compile(r"^/(v1|v1beta|v1alpha)/models/?$")


def _query(call: Call) -> dict[str, list[str]]:
    raw: bytes = call.scope.get("query_string", b"")
    return parse_qs(raw.decode("latin-1")) if raw else {}


def _model(call: Call) -> str:
    match = _MODEL_CALL.match(call.endpoint) or _MODEL.match(call.endpoint)
    assert match is not None  # routed only when the pattern matched
    return match.group(2)


async def _generate(app: Provider, call: Call, payload: Any, stream: bool) -> None:
    model = _model(call)
    call.model = model
    if app.account.enforced and not call.api_key:
        # A key given as `?key=` is charged like one in `x-goog-api-key`.
        call.api_key = (_query(call).get("key") or [""])[0].encode()
    if stream and _query(call).get("alt") != ["sse"]:
        raise WireError(
            400,
            "brownout's Gemini mock streams only as server-sent events: add `alt=sse` to the "
            "streamGenerateContent URL (the google-genai SDK does).",
        )
    req = wire.parse_generate_request(payload, model, stream, app.engine.tokenizer)
    call.tokens_in = req.tokens_in
    fired = decide(app.faults, call, model, stream)
    await serve_chat(call, FORMAT, app.engine, req, fired)


async def generate_content(app: Provider, call: Call, payload: Any) -> None:
    await _generate(app, call, payload, False)


async def stream_generate_content(app: Provider, call: Call, payload: Any) -> None:
    await _generate(app, call, payload, True)


async def count_tokens(app: Provider, call: Call, payload: Any) -> None:
    model = _model(call)
    call.model = model
    if model not in app.engine.models:
        raise wire.not_found(model, "countTokens")
    tokens = wire.count_tokens_request(payload, app.engine.tokenizer)
    fired = decide(app.faults, call, model, False)
    if await serve_simple(call, FORMAT, app.engine, fired, model, 0):
        return
    body = {
        "totalTokens": tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}],
    }
    await call.respond(200, orjson.dumps(body), JSON_CT)


async def list_models(app: Provider, call: Call, payload: Any) -> None:
    fired = decide(app.faults, call, None, False)
    if await serve_simple(call, FORMAT, app.engine, fired, None, 0):
        return
    models = tuple(app.engine.models.values())
    await call.respond(200, orjson.dumps(wire.models_list(models)), JSON_CT)


async def get_model(app: Provider, call: Call, payload: Any) -> None:
    model = _model(call)
    call.model = model
    spec = app.engine.models.get(model) or app.engine.models.get(model, "embedding")
    if spec is None:
        raise wire.not_found(model)
    fired = decide(app.faults, call, model, False)
    if await serve_simple(call, FORMAT, app.engine, fired, model, 0):
        return
    await call.respond(200, orjson.dumps(wire.model_object(spec)), JSON_CT)


_BY_METHOD: dict[str, Handler] = {
    "generateContent": generate_content,
    "streamGenerateContent": stream_generate_content,
    "countTokens": count_tokens,
}


def resolve(method: str, endpoint: str) -> Handler | None:
    """The handler of `models/{model}:{method}` (POST) or `models[/{model}]` (GET)."""
    if method == "POST":
        match = _MODEL_CALL.match(endpoint)
        return _BY_METHOD.get(match.group(3)) if match else None
    if method == "GET":
        if _LIST.match(endpoint):
            return list_models
        if _MODEL.match(endpoint):
            return get_model
    return None


def precheck(scope: dict[str, Any]) -> WireError | None:
    """No API key (`x-goog-api-key` header or `key` query parameter): Google's 403."""
    if any(name == b"x-goog-api-key" for name, _ in scope["headers"]):
        return None
    raw: bytes = scope.get("query_string", b"")
    if raw and parse_qs(raw.decode("latin-1")).get("key"):
        return None
    return WireError(403, wire.UNREGISTERED, kind="auth")


def headers(account: AccountLimits, call: Call) -> Headers:
    """Gemini's response headers: no request id or rate-limit state, a server timing."""
    call.request_id = ""
    return [
        (b"server-timing", b"gfet4t7; dur=%d" % call.elapsed_ms()),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Origin, X-Origin, Referer"),
    ]


def replay_headers(account: AccountLimits) -> Headers:
    return [
        (b"server-timing", b"gfet4t7; dur=0"),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Origin, X-Origin, Referer"),
    ]


ROUTES: dict[tuple[str, str], Handler] = {}

FLAVOUR = FlavourSpec(
    name="gemini",
    routes=ROUTES,
    format=FORMAT,
    headers=headers,
    replay_headers=replay_headers,
    resolve=resolve,
    precheck=precheck,
)
