"""The Anthropic-compatible endpoints: messages (plain and streamed), count_tokens, models."""

from __future__ import annotations

from typing import Any

import orjson

from mock_providers.anthropic import wire
from mock_providers.core.call import Call, Headers
from mock_providers.core.engine import JSON_CT, decide
from mock_providers.core.flavour import FlavourSpec, Handler, Provider
from mock_providers.core.model_routes import model_handlers
from mock_providers.core.pipeline import serve_chat, serve_simple
from mock_providers.core.ratelimit import AccountLimits, header_lines
from mock_providers.core.wire import new_id

FORMAT = wire.AnthropicFormat()


def request_id() -> str:
    return new_id("req_", 12)


async def messages(app: Provider, call: Call, payload: Any) -> None:
    req = wire.parse_messages_request(payload, app.engine.tokenizer)
    call.model = req.model
    call.tokens_in = req.tokens_in
    fired = decide(app.faults, call, req.model, req.stream)
    await serve_chat(call, FORMAT, app.engine, req, fired)


async def count_tokens(app: Provider, call: Call, payload: Any) -> None:
    model = wire.parse_model(payload)
    call.model = model
    if model not in app.engine.models:
        raise FORMAT.model_not_found(model)
    tokens = wire.count_input_tokens(payload, app.engine.tokenizer)
    fired = decide(app.faults, call, model, False)
    if await serve_simple(call, FORMAT, app.engine, fired, model, 0):
        return
    await call.respond(200, orjson.dumps({"input_tokens": tokens}), JSON_CT)


list_models, get_model = model_handlers(FORMAT, wire.models_page, wire.model_object)


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/messages"): messages,
    ("POST", "/v1/messages/count_tokens"): count_tokens,
    ("GET", "/v1/models"): list_models,
    ("GET", "/v1/models/{model}"): get_model,
}

ORGANISATION = b"00000000-0000-4000-8000-b70e0a1c0de0"


def headers(account: AccountLimits, call: Call) -> Headers:
    """Anthropic's response headers: request id, organisation, rate limits."""
    call.request_id = rid = request_id()
    return [
        (b"request-id", rid.encode()),
        (b"anthropic-organization-id", ORGANISATION),
        *(
            account.key_anthropic_headers(call.api_key)
            if account.enforced
            else account.anthropic_headers()
        ),
    ]


def replay_headers(account: AccountLimits) -> Headers:
    """The same headers on the replay hot path (no call object)."""
    return [
        (b"request-id", request_id().encode()),
        (b"anthropic-organization-id", ORGANISATION),
        *account.anthropic_headers(),
    ]


def head(account: AccountLimits, call: Call) -> bytes:
    """`headers` as header lines, without building the list."""
    call.request_id = rid = request_id()
    rate = (
        header_lines(account.key_anthropic_headers(call.api_key))
        if account.enforced
        else account.anthropic_head()
    )
    return b"request-id: %s\r\nanthropic-organization-id: %s\r\n%s" % (
        rid.encode(),
        ORGANISATION,
        rate,
    )


def replay_head(account: AccountLimits) -> bytes:
    """`replay_headers` as header lines."""
    return b"request-id: %s\r\nanthropic-organization-id: %s\r\n%s" % (
        request_id().encode(),
        ORGANISATION,
        account.anthropic_head(),
    )


FLAVOUR = FlavourSpec(
    name="anthropic",
    routes=ROUTES,
    format=FORMAT,
    headers=headers,
    replay_headers=replay_headers,
    head=head,
    replay_head=replay_head,
)
