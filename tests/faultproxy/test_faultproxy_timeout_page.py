"""The API's handler-timeout page is Go's, byte for byte, request id included.

Toxiproxy wraps its API in ``http.TimeoutHandler`` (25 s) inside the middleware that mints the
``X-Toxiproxy-Request-Id``, so its 503 carries the id, then ``Date``, ``Content-Length`` and the
sniffed ``Content-Type``. Measured on toxiproxy-server 2.12.0 (adding a toxic while a client
does not read makes it hang for the 25 s):

    HTTP/1.1 503 Service Unavailable
    X-Toxiproxy-Request-Id: dc7le6hksdu92es6r0ug
    Date: Tue, 01 Dec 2026 23:24:35 GMT
    Content-Length: 77
    Content-Type: text/html; charset=utf-8

The embedded server's handlers never take that long on their own, so the test runs the real
API behind a handler that overruns a short deadline. It drives the embedded HTTP layer
directly, whichever server the suite targets (the real one would need 25 s a case).
"""

from __future__ import annotations

import asyncio
import re
import socket

from conftest import LoopThread

from harness.faultproxy.api import Api
from harness.faultproxy.httpserver import TIMEOUT_PAGE, HttpServer, Request, Response
from harness.faultproxy.registry import Registry

_REQUEST = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"


def _response(sock: socket.socket) -> tuple[list[str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line[16:]) for line in lines if line.startswith("Content-Length: "))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return lines, body


def test_timeout_page_carries_the_request_id(loop_thread: LoopThread) -> None:
    api = Api(Registry(0))

    async def overrunning(request: Request) -> Response:
        response = await api.handle(request)  # mints the id on the way in, as Go does
        await asyncio.sleep(30)
        return response

    http = HttpServer(overrunning, handler_timeout_s=0.3)
    loop_thread.run(http.start("127.0.0.1", 0))
    try:
        with socket.create_connection(("127.0.0.1", http.port), timeout=10) as sock:
            ids = []
            for _ in range(2):  # the connection stays usable, each page has its own id
                sock.sendall(_REQUEST)
                lines, body = _response(sock)
                assert lines[0] == "HTTP/1.1 503 Service Unavailable"
                names = [line.split(": ", 1)[0] for line in lines[1:]]
                assert names == ["X-Toxiproxy-Request-Id", "Date", "Content-Length", "Content-Type"]
                values = dict(line.split(": ", 1) for line in lines[1:])
                assert re.fullmatch(r"[0-9a-v]{20}", values["X-Toxiproxy-Request-Id"])
                assert values["Content-Type"] == "text/html; charset=utf-8"
                assert values["Content-Length"] == str(len(TIMEOUT_PAGE)) == "77"
                assert body == TIMEOUT_PAGE
                ids.append(values["X-Toxiproxy-Request-Id"])
            assert ids[0] != ids[1]
    finally:
        loop_thread.run(http.stop())
