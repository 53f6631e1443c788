"""The Toxiproxy 2.12 HTTP API: routing, request bodies and Toxiproxy's exact responses.

Status codes, member order, error bodies (JSON served as ``text/plain``), the 404/405 routing
answers, the browser block and the request-id header follow docs/toxiproxy-compatibility.md,
because existing Toxiproxy clients depend on them.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from harness.faultproxy.bodies import FieldCheck, FieldReader, bad_body, decode_object
from harness.faultproxy.gojson import BodyError, Pairs, decode_body, dumps, go_type_name, lookup
from harness.faultproxy.httpserver import Request, Response
from harness.faultproxy.metrics import render_metrics
from harness.faultproxy.proxy import ApiError
from harness.faultproxy.registry import PopulateError, ProxySpec, Registry
from harness.faultproxy.toxics import (
    TOXIC_ATTRIBUTES,
    Toxic,
    go_int_type,
    go_struct_name,
    parse_direction,
)

__all__ = ["TOXIPROXY_VERSION", "Api", "populate_specs"]

#: The Toxiproxy release whose API this server reproduces (reported by GET /version).
TOXIPROXY_VERSION = "2.12.0"

log = logging.getLogger(__name__)

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"
_NOSNIFF = ("X-Content-Type-Options", "nosniff")
_NOT_FOUND = Response(404, b"404 page not found\n", _TEXT, [_NOSNIFF])
_NOT_ALLOWED = Response(405)

Route = Callable[[Request, list[str]], Awaitable[Response]]


def error_response(err: ApiError) -> Response:
    body = '{"error":' + dumps(err.message) + ',"status":' + str(err.status) + "}\n"
    return Response(err.status, body.encode(), _TEXT, [_NOSNIFF])


def _json(status: int, text: str) -> Response:
    return Response(status, text.encode(), _JSON)


class _RequestIds:
    """20-character ids in the layout of Go's ``rs/xid`` (time, machine, pid, counter)."""

    _ALPHABET = "0123456789abcdefghijklmnopqrstuv"

    def __init__(self) -> None:
        self._machine = secrets.token_bytes(3)
        self._pid = (os.getpid() & 0xFFFF).to_bytes(2, "big")
        self._counter = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))

    def next(self) -> str:
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + self._pid
            + (next(self._counter) & 0xFFFFFF).to_bytes(3, "big")
        )
        number = int.from_bytes(raw, "big") << 4  # 96 bits -> 20 base-32 digits
        return "".join(self._ALPHABET[(number >> (5 * i)) & 31] for i in range(19, -1, -1))


class Api:
    def __init__(self, registry: Registry, *, metrics: bool = False) -> None:
        self.registry = registry
        self.metrics = metrics
        self._ids = _RequestIds()

    async def handle(self, request: Request) -> Response:
        segments = unquote(request.path, errors="replace").split("/")
        if not request.path.startswith("/"):
            return _NOT_FOUND
        found = self._route(segments[1:])
        if found is None:
            return _NOT_FOUND
        routes, args = found
        route = routes.get(request.method)
        if route is None:
            return _NOT_ALLOWED
        headers = [("X-Toxiproxy-Request-Id", self._ids.next())]
        request.early_headers.extend(headers)
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            response = Response(403, b"User agent not allowed\n", _TEXT, [_NOSNIFF])
        else:
            try:
                response = await route(request, args)
            except ApiError as err:
                response = error_response(err)
            except Exception as err:  # a bug must cost one request, never the server
                log.exception("%s %s failed", request.method, request.path)
                response = error_response(ApiError(f"internal error: {err}", 500))
        response.headers = headers + response.headers
        return response

    def _route(self, parts: list[str]) -> tuple[dict[str, Route], list[str]] | None:
        if any(part == "" for part in parts):
            return None
        match parts:
            case ["version"]:
                return {"GET": self.version}, []
            case ["proxies"]:
                return {"GET": self.list_proxies, "POST": self.create_proxy}, []
            case ["populate"]:
                return {"POST": self.populate}, []
            case ["reset"]:
                return {"POST": self.reset}, []
            case ["metrics"] if self.metrics:
                return {"GET": self.get_metrics}, []
            case ["proxies", name]:
                update = self.update_proxy
                methods = {"GET": self.get_proxy, "POST": update, "PATCH": update}
                return {**methods, "DELETE": self.delete_proxy}, [name]
            case ["proxies", name, "toxics"]:
                return {"GET": self.list_toxics, "POST": self.create_toxic}, [name]
            case ["proxies", name, "toxics", toxic]:
                update = self.update_toxic
                methods = {"GET": self.get_toxic, "POST": update, "PATCH": update}
                return {**methods, "DELETE": self.delete_toxic}, [name, toxic]
        return None

    # -- server ---------------------------------------------------------------------------

    async def version(self, request: Request, args: list[str]) -> Response:
        body = '{"version": "' + TOXIPROXY_VERSION + '"}\n'
        return Response(200, body.encode(), "application/json;charset=utf-8")

    async def reset(self, request: Request, args: list[str]) -> Response:
        await self.registry.reset()
        return Response(204)

    async def get_metrics(self, request: Request, args: list[str]) -> Response:
        text = render_metrics(self.registry.sorted_proxies())
        return Response(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    # -- proxies --------------------------------------------------------------------------

    async def list_proxies(self, request: Request, args: list[str]) -> Response:
        members = (dumps(p.name) + ":" + p.to_json() for p in self.registry.sorted_proxies())
        return _json(200, "{" + ",".join(members) + "}")

    async def create_proxy(self, request: Request, args: list[str]) -> Response:
        spec = _proxy_spec(decode_object(request.body, "toxiproxy.Proxy"), "")
        proxy = await self.registry.create(spec)
        return _json(201, proxy.to_json())

    async def populate(self, request: Request, args: list[str]) -> Response:
        try:
            specs = populate_specs(request.body)
            proxies = await self.registry.populate(specs)
        except PopulateError as err:
            applied = "[" + ",".join(p.to_json() for p in err.applied) + "]"
            return _populate_error(err, applied if err.applied else "null")
        except ApiError as err:
            return _populate_error(err, "null")
        listed = "[" + ",".join(p.to_json() for p in proxies) + "]" if proxies else "null"
        return _json(201, '{"proxies":' + listed + "}")

    async def get_proxy(self, request: Request, args: list[str]) -> Response:
        return _json(200, self.registry.get(args[0]).to_json())

    async def update_proxy(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        fields = FieldReader(decode_object(request.body, "toxiproxy.Proxy"), "Proxy")
        fields.check_in_document_order(_PROXY_FIELDS)
        await self.registry.update(
            proxy,
            listen=fields.string("listen", proxy.listen),
            upstream=fields.string("upstream", proxy.upstream),
            enabled=fields.boolean("enabled", proxy.enabled),
        )
        return _json(200, proxy.to_json())

    async def delete_proxy(self, request: Request, args: list[str]) -> Response:
        await self.registry.delete(args[0])
        return Response(204)

    # -- toxics ---------------------------------------------------------------------------

    async def list_toxics(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        return _json(200, "[" + ",".join(t.to_json() for t in proxy.ordered_toxics()) + "]")

    async def create_toxic(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        obj = decode_object(request.body, "toxics.ToxicWrapper")
        fields = FieldReader(obj, "ToxicWrapper")
        # Go decodes the wrapper first with a no-op toxic (attributes unread), checks stream,
        # type and name, then decodes the body again into the toxic's own struct.
        fields.check_in_document_order(_WRAPPER_FIELDS)
        name = fields.string("name", "")
        toxic_type = fields.string("type", "")
        stream = fields.string("stream", "downstream")
        toxicity = fields.float32("toxicity", 1.0)
        direction = parse_direction(stream)
        if direction is None:
            raise ApiError("stream was invalid, can be either upstream or downstream", 400)
        if not name:
            name = f"{toxic_type}_{stream}"
        if toxic_type not in TOXIC_ATTRIBUTES:
            raise ApiError("invalid toxic type", 400)
        if proxy.find_toxic(name) is not None:
            raise ApiError("toxic already exists", 409)
        attributes = {key: 0 for key in TOXIC_ATTRIBUTES[toxic_type]}
        _check_attributes(obj, toxic_type)
        _apply_attributes(attributes, obj, toxic_type)
        toxic = Toxic(name, toxic_type, stream, direction, toxicity, attributes)
        self.registry.add_toxic(proxy, toxic)
        return _json(200, toxic.to_json())

    async def get_toxic(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        return _json(200, self.registry.get_toxic(proxy, args[1]).to_json())

    async def update_toxic(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        toxic = self.registry.get_toxic(proxy, args[1])
        obj = decode_object(request.body, "toxics.ToxicWrapper")
        # One pass, as Go decodes into an anonymous struct {attributes (the toxic); toxicity}:
        # the first bad member in the document wins, nested attributes included.
        fields = FieldReader(obj, "")
        go_struct = go_struct_name(toxic.type)
        checks = _attribute_checks(toxic.type)

        def check_attributes(value: object) -> None:
            if not isinstance(value, Pairs):
                fields.check_in_document_order({"attributes": go_struct})  # raises
            else:
                _nested_reader(value, toxic.type).check_in_document_order(checks)

        fields.check_in_document_order({"attributes": check_attributes, "toxicity": "float32"})
        toxicity = fields.float32("toxicity", toxic.toxicity)
        attributes = dict(toxic.attributes)
        _apply_attributes(attributes, obj, toxic.type)
        toxic.toxicity = toxicity
        toxic.attributes = attributes
        toxic.touch()
        proxy.apply_toxics()
        return _json(200, toxic.to_json())

    async def delete_toxic(self, request: Request, args: list[str]) -> Response:
        proxy = self.registry.get(args[0])
        proxy.remove_toxic(self.registry.get_toxic(proxy, args[1]))
        return Response(204)


#: The anonymous struct Toxiproxy decodes each /populate entry into, as Go prints its type.
_POPULATE_ENTRY = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'


#: The members of Toxiproxy's ``Proxy`` a body can set, with their Go types (``Logger`` is
#: exported too: anything but an object there is a type error).
_PROXY_FIELDS: dict[str, FieldCheck] = {
    "name": "string",
    "listen": "string",
    "upstream": "string",
    "enabled": "bool",
    "Logger": "zerolog.Logger",
}
#: ``ToxicWrapper`` on Go's first pass, when the toxic is still a ``NoopToxic``.
_WRAPPER_FIELDS: dict[str, FieldCheck] = {
    "attributes": "toxics.NoopToxic",
    "name": "string",
    "type": "string",
    "stream": "string",
    "toxicity": "float32",
}


def _attribute_checks(toxic_type: str) -> dict[str, FieldCheck]:
    go_int = go_int_type(toxic_type)
    return {key: go_int for key in TOXIC_ATTRIBUTES[toxic_type]}


def _nested_reader(attributes: Pairs, toxic_type: str) -> FieldReader:
    """Go names a nested field by its path: ``LatencyToxic.attributes.latency``."""
    return FieldReader(
        attributes, go_struct_name(toxic_type).removeprefix("toxics.") + ".attributes"
    )


def _check_attributes(obj: Pairs, toxic_type: str) -> None:
    """Go's second pass over a new toxic's body: each ``attributes`` object into the toxic's
    own struct, its members in document order (anything else failed the first pass)."""
    checks = _attribute_checks(toxic_type)

    def check(value: object) -> None:
        if isinstance(value, Pairs):
            _nested_reader(value, toxic_type).check_in_document_order(checks)

    FieldReader(obj, "ToxicWrapper").check_in_document_order({"attributes": check})


def _proxy_spec(obj: Pairs, suffix: str, go_struct: str = "Proxy") -> ProxySpec:
    fields = FieldReader(obj, go_struct)
    fields.check_in_document_order(_PROXY_FIELDS)
    spec = ProxySpec(
        name=fields.string("name", ""),
        listen=fields.string("listen", ""),
        upstream=fields.string("upstream", ""),
        enabled=fields.boolean("enabled", True),
    )
    if not spec.name:
        raise ApiError("missing required field: name" + suffix, 400)
    if not spec.upstream:
        raise ApiError("missing required field: upstream" + suffix, 400)
    return spec


def populate_specs(raw: bytes) -> list[ProxySpec]:
    try:
        value = decode_body(raw)
    except BodyError as err:
        raise bad_body(str(err)) from None
    if value is None:
        return []
    if not isinstance(value, list) or isinstance(value, Pairs):
        raise bad_body(
            f"json: cannot unmarshal {go_type_name(value)} "
            f"into Go value of type []{_POPULATE_ENTRY}"
        )
    specs = []
    for number, entry in enumerate(value, start=1):
        if entry is None:
            entry = Pairs()
        if not isinstance(entry, Pairs):
            raise bad_body(
                f"json: cannot unmarshal {go_type_name(entry)} "
                f"into Go value of type {_POPULATE_ENTRY}"
            )
        # Go names the anonymous struct's fields with an empty type name: ".name".
        specs.append(_proxy_spec(entry, f" at proxy {number}", ""))
    return specs


def _populate_error(err: ApiError, proxies: str) -> Response:
    body = '{"error":' + dumps(err.message) + ',"status":' + str(err.status)
    return _json(err.status, body + ',"proxies":' + proxies + "}")


def _apply_attributes(attributes: dict[str, int], obj: Pairs, toxic_type: str) -> None:
    """Set the attributes present in the body (others keep their value); 400 on bad types."""
    _found, raw = lookup(obj, "attributes")
    if raw is None:
        return
    if not isinstance(raw, Pairs):
        # Go decodes the wrapper before it knows the type: the target is still a NoopToxic.
        raise bad_body(
            f"json: cannot unmarshal {go_type_name(raw)} into Go struct field "
            "ToxicWrapper.attributes of type toxics.NoopToxic"
        )
    fields = _nested_reader(raw, toxic_type)
    go_int = go_int_type(toxic_type)
    for key in attributes:
        attributes[key] = fields.integer(key, attributes[key], go_int)
