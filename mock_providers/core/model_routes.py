"""`GET /v1/models` and `GET /v1/models/{id}`, the same for every flavour but for how the list
and one model are rendered: one pair of handlers, built per flavour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from mock_providers.core.call import Call
from mock_providers.core.engine import JSON_CT, ChatFormat, decide
from mock_providers.core.flavour import Handler, Provider
from mock_providers.core.models import ModelSpec
from mock_providers.core.pipeline import serve_simple


def model_handlers(
    fmt: ChatFormat,
    render_list: Callable[[tuple[ModelSpec, ...]], dict[str, Any]],
    render_one: Callable[[ModelSpec], dict[str, Any]],
) -> tuple[Handler, Handler]:
    """(list_models, get_model) for one flavour; faults apply to them like to any call."""

    async def list_models(app: Provider, call: Call, payload: Any) -> None:
        fired = decide(app.faults, call, None, False)
        if await serve_simple(call, fmt, app.engine, fired, None, 0):
            return
        models = tuple(app.engine.models.values())
        await call.respond(200, orjson.dumps(render_list(models)), JSON_CT)

    async def get_model(app: Provider, call: Call, payload: Any) -> None:
        model_id = call.endpoint[len("/v1/models/") :]
        call.model = model_id
        spec = app.engine.models.get(model_id)
        if spec is None and model_id not in app.engine.models:
            raise fmt.model_not_found(model_id)
        spec = spec or app.engine.models.get(model_id, "embedding")
        if spec is None:
            raise fmt.model_not_found(model_id)
        fired = decide(app.faults, call, model_id, False)
        if await serve_simple(call, fmt, app.engine, fired, model_id, 0):
            return
        await call.respond(200, orjson.dumps(render_one(spec)), JSON_CT)

    return list_models, get_model
