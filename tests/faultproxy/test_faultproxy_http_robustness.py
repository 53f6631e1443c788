"""The API survives malformed HTTP: a 4xx (or a closed connection), never a dead server."""

from __future__ import annotations

import contextlib
import logging
import socket

import httpx
import pytest


def raw_exchange(url: str, payload: bytes, timeout: float = 5.0) -> bytes:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # The server may answer and close before reading everything: that is fine.
        with contextlib.suppress(OSError):
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return data


MALFORMED = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /version HTTP/9.9\r\n\r\n",
    b"GET /version HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
    b"GET /version HTTP/1.1\r\n" + b"X: " + b"a" * 200_000 + b"\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    b'POST /proxies HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"name"',
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /proxies/%zz%00 HTTP/1.1\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x01",
    b"POST /populate HTTP/1.1\r\nContent-Length: 9\r\n\r\n[[[[[[[[[",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"[" * 5000,
    b"GET /version HTTP/1.1\r\nHost: x\r\n",  # truncated headers
    b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\n\r\n",  # huge request line
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 100_000,
]


@pytest.mark.parametrize("payload", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests(
    api: httpx.Client, server_url: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    answer = raw_exchange(server_url, payload)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 600 and status != 500, answer[:200]
    assert api.get("/version").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_pipelined_keep_alive_requests(server_url: str) -> None:
    request = b"GET /proxies HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = raw_exchange(server_url, request * 3)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


def test_chunked_body_and_expect_continue(server_url: str, echo_upstream: str) -> None:
    body = b'{"name":"c","listen":"127.0.0.1:0","upstream":"' + echo_upstream.encode() + b'"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n" + chunked
    )
    answer = raw_exchange(server_url, request)
    assert b"201 Created" in answer


def test_http10_closes_after_response(server_url: str) -> None:
    answer = raw_exchange(server_url, b"GET /version HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK")


def test_deeply_nested_json_is_400(api: httpx.Client) -> None:
    response = api.post("/proxies", content=b'{"name":' + b"[" * 100_000)
    assert response.status_code == 400
    assert api.get("/version").status_code == 200
