"""The OpenAI-compatible endpoints: chat and legacy completions, models, embeddings, responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from mock_providers.core.call import Call, Headers
from mock_providers.core.engine import JSON_CT, ChatFormat, decide
from mock_providers.core.flavour import FlavourSpec, Handler, Provider
from mock_providers.core.model_routes import model_handlers
from mock_providers.core.pipeline import serve_chat, serve_simple
from mock_providers.core.ratelimit import AccountLimits, header_lines
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import ChatRequest, WireError, new_id
from mock_providers.openai import wire
from mock_providers.openai.completions import CompletionsFormat, parse_completions_request
from mock_providers.openai.embeddings import embedding_response, parse_embedding_request
from mock_providers.openai.responses import ResponsesFormat, parse_responses_request

FORMAT = wire.OpenAIFormat()


def request_id() -> str:
    return new_id("req_", 16)


def normalise_path(path: str) -> str:
    """OpenAI clients are configured with or without `/v1`; journal one spelling."""
    if path.startswith("/v1/") or path == "/v1":
        return path
    return "/v1" + path


Parser = Callable[[Any, TokenizerProfile], ChatRequest]


def chat_route(fmt: ChatFormat, parse: Parser) -> Handler:
    """A handler for one chat-like endpoint (chat, responses, legacy completions) in `fmt`."""

    async def handler(app: Provider, call: Call, payload: Any) -> None:
        req = parse(payload, app.engine.tokenizer)
        call.model = req.model
        call.tokens_in = req.tokens_in
        fired = decide(app.faults, call, req.model, req.stream)
        await serve_chat(call, fmt, app.engine, req, fired)

    return handler


def embeddings_route(fmt: ChatFormat) -> Handler:
    """The embeddings handler, errors in `fmt`."""

    async def embeddings(app: Provider, call: Call, payload: Any) -> None:
        req = parse_embedding_request(payload, app.engine.tokenizer)
        call.model = req.model
        call.tokens_in = req.tokens_in
        spec = app.engine.models.get(req.model, "embedding")
        if spec is None:
            raise fmt.model_not_found(req.model)
        fired = decide(app.faults, call, req.model, False)
        if await serve_simple(call, fmt, app.engine, fired, req.model, req.tokens_in):
            return
        app.account.record(req.tokens_in)
        await call.respond(200, orjson.dumps(embedding_response(req, spec)), JSON_CT)

    return embeddings


RESPONSES_FORMAT = ResponsesFormat()
COMPLETIONS_FORMAT = CompletionsFormat()
chat_completions = chat_route(FORMAT, wire.parse_chat_request)
completions = chat_route(COMPLETIONS_FORMAT, parse_completions_request)
responses = chat_route(RESPONSES_FORMAT, parse_responses_request)
embeddings = embeddings_route(FORMAT)
list_models, get_model = model_handlers(FORMAT, wire.models_list, wire.model_object)


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/completions"): completions,
    ("GET", "/v1/models"): list_models,
    ("GET", "/v1/models/{model}"): get_model,
    ("POST", "/v1/embeddings"): embeddings,
    ("POST", "/v1/responses"): responses,
}


def headers(account: AccountLimits, call: Call) -> Headers:
    """OpenAI's response headers: request id, organisation, processing time, rate limits."""
    call.request_id = rid = request_id()
    return [
        (b"x-request-id", rid.encode()),
        (b"openai-organization", b"org-brownout"),
        (b"openai-processing-ms", b"%d" % call.elapsed_ms()),
        (b"openai-version", b"2020-10-01"),
        *(
            account.key_openai_headers(call.api_key)
            if account.enforced
            else account.openai_headers()
        ),
    ]


def replay_headers(account: AccountLimits) -> Headers:
    """The same headers on the replay hot path (no call object, no processing time)."""
    return [
        (b"x-request-id", request_id().encode()),
        (b"openai-organization", b"org-brownout"),
        (b"openai-processing-ms", b"0"),
        (b"openai-version", b"2020-10-01"),
        *account.openai_headers(),
    ]


_REPLAY_FIXED = (
    b"openai-organization: org-brownout\r\nopenai-processing-ms: 0\r\n"
    b"openai-version: 2020-10-01\r\n"
)


def head(account: AccountLimits, call: Call) -> bytes:
    """`headers` as header lines, without building the list."""
    call.request_id = rid = request_id()
    rate = (
        header_lines(account.key_openai_headers(call.api_key))
        if account.enforced
        else account.openai_head()
    )
    return (
        b"x-request-id: %s\r\nopenai-organization: org-brownout\r\nopenai-processing-ms: %d\r\n"
        b"openai-version: 2020-10-01\r\n%s" % (rid.encode(), call.elapsed_ms(), rate)
    )


def replay_head(account: AccountLimits) -> bytes:
    """`replay_headers` as header lines."""
    rid = request_id().encode()
    return b"x-request-id: " + rid + b"\r\n" + _REPLAY_FIXED + account.openai_head()


FLAVOUR = FlavourSpec(
    name="openai",
    routes=ROUTES,
    format=FORMAT,
    headers=headers,
    replay_headers=replay_headers,
    head=head,
    replay_head=replay_head,
    normalise_path=normalise_path,
)

__all__ = ["FLAVOUR", "FORMAT", "ROUTES", "WireError", "normalise_path", "request_id"]
