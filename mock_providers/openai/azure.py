"""Azure OpenAI: the OpenAI wire behind Azure's front door, as flavour `azure`.

What Azure adds to the OpenAI API, and what clients such as the `openai` SDK's `AzureOpenAI`
depend on: deployment routes (`/openai/deployments/{deployment}/chat/completions`, also
`completions` and `embeddings`) that require an `api-version` query parameter, the newer
`/openai/v1/...` routes that do not, `api-key` (or Bearer) authentication, Azure's own error
bodies (`{"error": {"code", "message"}}` from the front door, OpenAI's shape from the model),
content-filter annotations on every answer (`prompt_filter_results`, and
`content_filter_results` in each choice), and Azure's 429 wording with `retry-after-ms`.

It lives in the OpenAI package because it is that wire: the bodies, streams and faults are the
OpenAI ones, so the drift profiles of flavour `openai` apply here too.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs

import orjson

from mock_providers.core.call import Call, Headers
from mock_providers.core.flavour import FlavourSpec, Handler, Provider
from mock_providers.core.model_routes import model_handlers
from mock_providers.core.ratelimit import AccountLimits
from mock_providers.core.wire import DONE, Frame, Reply, WireError
from mock_providers.openai import wire
from mock_providers.openai.completions import CompletionsFormat, parse_completions_request
from mock_providers.openai.routes import chat_route, embeddings_route
from mock_providers.openai.wire import OpenAIFormat, error_body

DEPLOYMENTS = "/openai/deployments/"
V1 = "/openai/v1"
# Azure's api-version values: dated, optionally `-preview`; the v1 routes also take these words.
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_V1_VERSIONS = frozenset({"preview", "latest", "v1"})

_SAFE = {"filtered": False, "severity": "safe"}
PROMPT_FILTER_RESULTS = [
    {
        "prompt_index": 0,
        "content_filter_results": {
            "hate": _SAFE,
            "jailbreak": {"filtered": False, "detected": False},
            "self_harm": _SAFE,
            "sexual": _SAFE,
            "violence": _SAFE,
        },
    }
]
_OUTPUT_SAFE = {
    "hate": _SAFE,
    "protected_material_code": {"filtered": False, "detected": False},
    "protected_material_text": {"filtered": False, "detected": False},
    "self_harm": _SAFE,
    "sexual": _SAFE,
    "violence": _SAFE,
}
# What a completion stopped by the output filter carries (the same category as the 400's).
_OUTPUT_FILTERED = {**_OUTPUT_SAFE, "violence": {"filtered": True, "severity": "medium"}}

_UNAUTHORISED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
_SERVER_ERROR = (
    "The server had an error processing your request. Sorry about that! You can retry your "
    "request, or contact us through an Azure support request at: "
    "https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error."
)
_UNAVAILABLE = "The service is temporarily unable to process your request. Please try again later."


def front_error(status: int, code: str, message: str) -> WireError:
    """An error from Azure's front door (routing, auth, quota): `{"error": {code, message}}`."""
    return WireError(status, message, kind="azure", code=code)


def _front_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message}})


def _filter_results(reply_finish: str | None) -> dict[str, Any]:
    return _OUTPUT_FILTERED if reply_finish == "content_filter" else _OUTPUT_SAFE


class AzureErrors(OpenAIFormat):
    """Azure's error bodies and content-filter annotations over an OpenAI format.

    `operation` is the name Azure's quota messages use (`ChatCompletions_Create`, ...).
    """

    operation = "ChatCompletions_Create"

    def wire_error(self, err: WireError) -> bytes:
        if err.kind == "azure":
            return _front_body(err.code or str(err.status), err.message)
        if err.kind in ("unknown_url", "method"):
            return _front_body("404", "Resource not found")
        return super().wire_error(err)

    def status_error(self, status: int, message: str) -> bytes:
        if status == 429:
            return self.rate_limit("", "requests", 0, 0, 0, None)[1]
        if status == 401:
            return _front_body("401", message or _UNAUTHORISED)
        if status == 404:
            return _front_body("404", message or "Resource not found")
        if status == 503:
            return _front_body("ServiceUnavailable", message or _UNAVAILABLE)
        if status == 500:
            return error_body(message or _SERVER_ERROR, "server_error", None, None)
        return super().status_error(status, message)

    def model_not_found(self, model: str) -> WireError:
        return front_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment "
            "within the last 5 minutes, please wait a moment and try again.",
        )

    def model_deprecated(self, model: str) -> WireError:
        return front_error(
            404,
            "DeploymentNotFound",
            f"The API deployment {model} has been retired and can no longer be used. Deploy a "
            "newer model version and update the deployment name your client uses.",
        )

    def rate_limit(
        self, model: str, kind: str, limit: int, used: int, requested: int, retry_s: float | None
    ) -> tuple[int, bytes]:
        what = "token rate limit" if kind == "tokens" else "call rate limit"
        wait = ""
        if retry_s is not None:
            n = max(1, int(retry_s + 0.999))
            wait = f" Please retry after {n} second{'s' if n != 1 else ''}."
        return 429, _front_body(
            "429",
            f"Requests to the {self.operation} Operation under Azure OpenAI API have exceeded "
            f"{what} of your current OpenAI S0 pricing tier.{wait} Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the default "
            "rate limit.",
        )

    def body(self, reply: Reply, model: str) -> dict[str, Any]:
        out = super().body(reply, model)
        out["prompt_filter_results"] = PROMPT_FILTER_RESULTS
        for choice in out["choices"]:
            choice["content_filter_results"] = _filter_results(reply.finish)
        return out

    def frames(self, reply: Reply, model: str, include_usage: bool) -> list[Frame]:
        frames = super().frames(reply, model, include_usage)
        for _, payload in frames:
            if payload == DONE:
                continue
            for choice in payload["choices"]:
                done = choice.get("finish_reason") is not None
                choice["content_filter_results"] = _filter_results(reply.finish) if done else {}
        # Azure's first frame: the prompt's filter verdict, with no choices and empty ids.
        first = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": PROMPT_FILTER_RESULTS,
        }
        return [(None, first), *frames]

    def body_frames(self, frames: list[Frame]) -> int:
        return 1 + super().body_frames(frames[1:])


class AzureChatFormat(AzureErrors):
    """Chat completions on Azure."""


class AzureCompletionsFormat(AzureErrors, CompletionsFormat):
    """Legacy completions on Azure."""

    operation = "Completions_Create"


class AzureEmbeddingsFormat(AzureErrors):
    """Embeddings on Azure (errors only: embeddings carry no filter results)."""

    operation = "Embeddings_Create"


CHAT = AzureChatFormat()
COMPLETIONS = AzureCompletionsFormat()
EMBEDDINGS = AzureEmbeddingsFormat()


def _deployment_route(inner: Handler) -> Handler:
    """A deployment route: the deployment in the path names the model, whatever the body says."""

    async def handler(app: Provider, call: Call, payload: Any) -> None:
        deployment = call.endpoint[len(DEPLOYMENTS) :].partition("/")[0]
        if isinstance(payload, dict):
            payload = {**payload, "model": deployment}
        await inner(app, call, payload)

    return handler


_chat = chat_route(CHAT, wire.parse_chat_request)
_completions = chat_route(COMPLETIONS, parse_completions_request)
_embeddings = embeddings_route(EMBEDDINGS)
_BY_OPERATION: dict[str, Handler] = {
    "chat/completions": _deployment_route(_chat),
    "completions": _deployment_route(_completions),
    "embeddings": _deployment_route(_embeddings),
}
list_models, _ = model_handlers(CHAT, wire.models_list, wire.model_object)

ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", V1 + "/chat/completions"): _chat,
    ("POST", V1 + "/completions"): _completions,
    ("POST", V1 + "/embeddings"): _embeddings,
    ("GET", V1 + "/models"): list_models,
}


def resolve(method: str, endpoint: str) -> Handler | None:
    """The handler of a deployment route (`/openai/deployments/{d}/{operation}`)."""
    if method != "POST" or not endpoint.startswith(DEPLOYMENTS):
        return None
    deployment, _, operation = endpoint[len(DEPLOYMENTS) :].partition("/")
    if not deployment:
        return None
    return _BY_OPERATION.get(operation)


def _query(scope: dict[str, Any], name: str) -> str | None:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    values = parse_qs(raw.decode("latin-1")).get(name)
    return values[0] if values else None


def _v1_version_ok(version: str | None) -> bool:
    return version is None or version in _V1_VERSIONS or _API_VERSION.match(version) is not None


def precheck(scope: dict[str, Any]) -> WireError | None:
    """What Azure's front door refuses before any model sees the call: no key, no api-version."""
    if not any(name in (b"api-key", b"authorization") for name, _ in scope["headers"]):
        return front_error(401, "401", _UNAUTHORISED)
    path: str = scope["path"]
    version = _query(scope, "api-version")
    if path.startswith(DEPLOYMENTS):
        if version is None or not _API_VERSION.match(version):
            return front_error(404, "404", "Resource not found")
    elif path.startswith(V1 + "/") and not _v1_version_ok(version):
        return front_error(400, "BadRequest", f"API version not supported: {version}")
    return None


def request_id() -> str:
    return str(uuid.uuid4())


_AZURE_RATE_HEADERS = (b"x-ratelimit-remaining-requests", b"x-ratelimit-remaining-tokens")


def _rate_headers(account: AccountLimits, call: Call | None) -> Headers:
    lines = (
        account.key_openai_headers(call.api_key)
        if call is not None and account.enforced
        else account.openai_headers()
    )
    return [(n, v) for n, v in lines if n in _AZURE_RATE_HEADERS]


def headers(account: AccountLimits, call: Call) -> Headers:
    """Azure's response headers: request ids (its own and APIM's), region, rate-limit state."""
    call.request_id = rid = request_id()
    return [
        (b"x-request-id", rid.encode()),
        (b"apim-request-id", rid.encode()),
        (b"x-ms-region", b"Brownout Local"),
        (b"x-ms-rai-invoked", b"true"),
        *_rate_headers(account, call),
    ]


def replay_headers(account: AccountLimits) -> Headers:
    rid = request_id().encode()
    return [
        (b"x-request-id", rid),
        (b"apim-request-id", rid),
        (b"x-ms-region", b"Brownout Local"),
        (b"x-ms-rai-invoked", b"true"),
        *_rate_headers(account, None),
    ]


FLAVOUR = FlavourSpec(
    name="azure",
    routes=ROUTES,
    format=CHAT,
    headers=headers,
    replay_headers=replay_headers,
    resolve=resolve,
    precheck=precheck,
)

__all__ = ["FLAVOUR", "front_error"]
