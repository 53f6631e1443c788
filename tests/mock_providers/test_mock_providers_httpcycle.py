"""The one-write response path sends the bytes stock uvicorn sends.

`core.httpcycle.OneWriteCycle` writes a whole response's head and body at once, and the
`brownout.response.whole` message carries header lines the app rendered itself. Both must be
invisible on the wire: the same ASGI responses are served by stock uvicorn (httptools) and by
the mock's protocol, over real sockets, and the raw bytes compared (the `date` line aside); the
flavours' pre-rendered header lines must equal their header lists rendered.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from mock_providers.core.httpcycle import WHOLE, render_head, whole_supported
from mock_providers.core.limits import GuardedProtocol
from mock_providers.core.ratelimit import AccountLimits
from mock_providers.server import bind

JSON = b'{"text":"caf\xc3\xa9 \xe2\x9c\x93","n":1}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(JSON)),
    (b"X-Mixed-Case", b"Value\twith tab"),
    (b"x-request-id", b"req_0123"),
]


async def _receive_all(receive: Any) -> None:
    message = await receive()
    while message.get("more_body"):
        message = await receive()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Responses chosen by path, sent with the standard ASGI messages."""
    if scope["type"] != "http":
        return
    await _receive_all(receive)
    path = scope["path"]
    if path == "/whole":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": JSON})
    elif path == "/close":
        headers = [*HEADERS, (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": JSON})
    elif path == "/split":  # a content-length body in two parts
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": JSON[:5], "more_body": True})
        await send({"type": "http.response.body", "body": JSON[5:]})
    elif path == "/stream":  # no content-length: chunked
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS[:1]})
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/bad-header":
        headers = [*HEADERS, (b"x-bad", b"line\r\nbreak")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": JSON})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": HEADERS})
        await send({"type": "http.response.body", "body": JSON})


async def whole_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The `/whole` response (also for `/split`: the same bytes), as one `WHOLE` message."""
    if scope["type"] != "http":
        return
    assert whole_supported(scope)
    await _receive_all(receive)
    head = render_head(HEADERS)
    assert head is not None
    await send({"type": WHOLE, "status": 200, "head": head, "body": JSON})


@contextlib.contextmanager
def serving(asgi: Callable[..., Any], protocol: Any, **options: Any) -> Iterator[int]:
    # The mock's settings (no access log, as `build_server`).
    config = uvicorn.Config(
        asgi,
        loop="uvloop",
        http=protocol,
        lifespan="off",
        log_level="critical",
        access_log=False,
        **options,
    )
    server = uvicorn.Server(config)
    sock = bind("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def exchange(port: int, request: bytes) -> bytes:
    """Send raw `request` bytes; everything the server sends until it closes (or goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError):
            while data := conn.recv(65536):
                chunks.append(data)
        return b"".join(chunks)


def _normalised(raw: bytes) -> bytes:
    return re.sub(rb"date: [^\r]+\r\n", b"date: D\r\n", raw)


def _post(path: str, extra: bytes = b"", version: bytes = b"1.1", method: bytes = b"POST") -> bytes:
    body = b'{"q":"hello"}'
    return (
        method + b" " + path.encode() + b" HTTP/" + version + b"\r\nhost: x\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
        % (len(body), extra, body)
    )


# Keep-alive requests are followed by `connection: close` ones, so the server ends the exchange.
REQUESTS = {
    "whole": _post("/whole") + _post("/whole", b"connection: close\r\n"),
    "pipelined": _post("/whole") + _post("/split") + _post("/whole", b"connection: close\r\n"),
    "close": _post("/close"),
    "split": _post("/split", b"connection: close\r\n"),
    "stream": _post("/stream", b"connection: close\r\n"),
    "empty": _post("/empty", b"connection: close\r\n"),
    "http10": _post("/whole", version=b"1.0"),
    "head": _post("/whole", method=b"HEAD") + _post("/whole", b"connection: close\r\n"),
    "bad-header": _post("/bad-header", b"connection: close\r\n"),
    "expect": _post("/whole", b"expect: 100-continue\r\nconnection: close\r\n"),
}


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    with serving(app, "httptools") as stock, serving(app, GuardedProtocol) as mock:
        yield stock, mock


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_the_mock_protocol_sends_what_stock_uvicorn_sends(
    ports: tuple[int, int], name: str
) -> None:
    stock, mock = ports
    expected = _normalised(exchange(stock, REQUESTS[name]))
    assert expected.startswith(b"HTTP/1.1 ") or name == "bad-header"
    assert _normalised(exchange(mock, REQUESTS[name])) == expected


@pytest.mark.parametrize("name", ["whole", "pipelined", "http10", "head", "expect"])
def test_a_whole_message_sends_what_the_standard_messages_send(
    ports: tuple[int, int], name: str
) -> None:
    stock, _ = ports
    with serving(whole_app, GuardedProtocol) as port:
        got = _normalised(exchange(port, REQUESTS[name]))
    assert got == _normalised(exchange(stock, REQUESTS[name]))


def test_render_head_refuses_what_uvicorn_would_check_itself() -> None:
    assert render_head([(b"x-a", b"1"), (b"X-B", b"2")]) == b"x-a: 1\r\nx-b: 2\r\n"
    assert render_head([(b"x-a", b"bad\nvalue")]) is None
    assert render_head([(b"bad name", b"v")]) is None
    assert render_head([(b"connection", b"close")]) is None
    assert render_head([(b"Transfer-Encoding", b"chunked")]) is None


class _FakeCall:
    def __init__(self, api_key: bytes = b"") -> None:
        self.api_key = api_key
        self.request_id = ""

    def elapsed_ms(self) -> float:
        return 12.7


@pytest.mark.parametrize("flavour", ["openai", "anthropic"])
@pytest.mark.parametrize("enforced", [False, True])
def test_flavour_header_lines_equal_their_header_lists(
    flavour: str, enforced: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mock_providers.flavours import flavour_spec

    spec = flavour_spec(flavour)  # type: ignore[arg-type]
    module = __import__(f"mock_providers.{flavour}.routes", fromlist=["request_id"])
    monkeypatch.setattr(module, "request_id", lambda: "req_fixed0123")
    account = AccountLimits()
    if enforced:
        account.configure(100, 10_000)
    account.record(50)
    assert spec.head is not None and spec.replay_head is not None
    call: Any = _FakeCall(b"sk-one")
    listed = render_head(spec.headers(account, call))
    assert listed is not None and call.request_id == "req_fixed0123"
    assert spec.head(account, _FakeCall(b"sk-one")) == listed  # type: ignore[arg-type]
    if not enforced:
        assert spec.replay_head(account) == render_head(spec.replay_headers(account))


@pytest.mark.parametrize("keep_alive_s", [0.3, 30.0])
def test_idle_connections_end_as_before(
    keep_alive_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keep-alive timeout (now one of the protocol's lazy deadlines) closes an idle
    connection quietly, and so does a head deadline that falls first (the connection's last
    response was complete, so no 408 goes out); a request that arrives while idle is served."""
    monkeypatch.setattr(GuardedProtocol, "head_timeout_s", 1.0)
    monkeypatch.setattr(GuardedProtocol, "body_timeout_s", 1.0)
    with (
        serving(app, GuardedProtocol, timeout_keep_alive=keep_alive_s) as port,
        socket.create_connection(("127.0.0.1", port), timeout=10) as conn,
    ):
        conn.sendall(_post("/whole"))
        first = conn.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK")
        conn.sendall(_post("/whole"))  # within both deadlines: served
        assert conn.recv(65536).startswith(b"HTTP/1.1 200 OK")
        rest = b""
        while data := conn.recv(65536):  # then idle until the server ends it
            rest += data
    assert rest == b""
