"""The OpenAI-compatible endpoints: chat completions, models, embeddings, responses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from mock_providers import openai_wire as wire
from mock_providers.call import Call
from mock_providers.embeddings import embedding_response, parse_embedding_request
from mock_providers.engine import JSON_CT, decide
from mock_providers.model_routes import model_handlers
from mock_providers.pipeline import serve_chat, serve_simple
from mock_providers.responses_api import ResponsesFormat, parse_responses_request
from mock_providers.wire import WireError, new_id

if TYPE_CHECKING:
    from mock_providers.app import Handler, MockApp

FORMAT = wire.OpenAIFormat()


def request_id() -> str:
    return new_id("req_", 16)


def normalise_path(path: str) -> str:
    """OpenAI clients are configured with or without `/v1`; journal one spelling."""
    if path.startswith("/v1/") or path == "/v1":
        return path
    return "/v1" + path


async def chat_completions(app: MockApp, call: Call, payload: Any) -> None:
    req = wire.parse_chat_request(payload, app.engine.tokenizer)
    call.model = req.model
    call.tokens_in = req.tokens_in
    fired = decide(app.faults, call, req.model, req.stream)
    await serve_chat(call, FORMAT, app.engine, req, fired)


list_models, get_model = model_handlers(FORMAT, wire.models_list, wire.model_object)


async def embeddings(app: MockApp, call: Call, payload: Any) -> None:
    req = parse_embedding_request(payload, app.engine.tokenizer)
    call.model = req.model
    call.tokens_in = req.tokens_in
    spec = app.engine.models.get(req.model, "embedding")
    if spec is None:
        raise wire.model_not_found(req.model)
    fired = decide(app.faults, call, req.model, False)
    if await serve_simple(call, FORMAT, app.engine, fired, req.model, req.tokens_in):
        return
    app.account.record(req.tokens_in)
    await call.respond(200, orjson.dumps(embedding_response(req, spec)), JSON_CT)


RESPONSES_FORMAT = ResponsesFormat()


async def responses(app: MockApp, call: Call, payload: Any) -> None:
    req = parse_responses_request(payload, app.engine.tokenizer)
    call.model = req.model
    call.tokens_in = req.tokens_in
    fired = decide(app.faults, call, req.model, req.stream)
    await serve_chat(call, RESPONSES_FORMAT, app.engine, req, fired)


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("GET", "/v1/models"): list_models,
    ("GET", "/v1/models/{model}"): get_model,
    ("POST", "/v1/embeddings"): embeddings,
    ("POST", "/v1/responses"): responses,
}

__all__ = ["FORMAT", "ROUTES", "WireError", "normalise_path", "request_id"]
