"""The Anthropic-compatible endpoints: messages (plain and streamed), count_tokens, models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mock_providers import anthropic_wire as wire
from mock_providers.call import Call
from mock_providers.engine import JSON_CT, decide
from mock_providers.model_routes import model_handlers
from mock_providers.pipeline import serve_chat, serve_simple
from mock_providers.wire import new_id

if TYPE_CHECKING:
    from mock_providers.app import Handler, MockApp

FORMAT = wire.AnthropicFormat()


def request_id() -> str:
    return new_id("req_", 12)


async def messages(app: MockApp, call: Call, payload: Any) -> None:
    req = wire.parse_messages_request(payload, app.engine.tokenizer)
    call.model = req.model
    call.tokens_in = req.tokens_in
    fired = decide(app.faults, call, req.model, req.stream)
    await serve_chat(call, FORMAT, app.engine, req, fired)


async def count_tokens(app: MockApp, call: Call, payload: Any) -> None:
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
