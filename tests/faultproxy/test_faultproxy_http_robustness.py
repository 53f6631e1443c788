"""The API survives malformed HTTP: a 4xx (or a closed connection), never a dead server."""

from __future__ import annotations

import contextlib
import logging
import socket

import httpx
import pytest


def raw_exchange(url: str, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send ``payload`` and read until the server closes (or ``timeout`` passes).

    Never half-closes: Go's server cancels a request whose client shut its sending side down
    right after sending and answers 503 with an empty body. Each payload here therefore makes
    the server close by itself: ``Connection: close`` on the last request, HTTP/1.0, or an
    error the server answers by closing. A payload the server waits on forever (truncated)
    ends at ``timeout`` with whatever was read.
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        # The server may answer and close before reading everything: that is fine.
        with contextlib.suppress(OSError):
            sock.sendall(payload)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return data


#: A header block just over Go's limit (1 MiB + 4 KiB): 431 on both servers.
OVERSIZED_HEADERS = (
    b"GET /version HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (1024 * 1024 + 4096) + b"\r\n\r\n"
)

MALFORMED = [
    b"\x00\xff\xfe garbage\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /version HTTP/9.9\r\n\r\n",
    b"GET /version HTTP/1.1\r\nNo-Colon-Header\r\n\r\n",
    OVERSIZED_HEADERS,
    b"GET /version HTTP/1.1\r\n\r\n",  # no Host
    b"POST /proxies HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
    b'POST /proxies HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"name"',
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /proxies/%zz%00 HTTP/1.1\r\n\r\n",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x01",
    b"POST /populate HTTP/1.1\r\nContent-Length: 9\r\n\r\n[[[[[[[[[",
    b"POST /proxies HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"[" * 5000,
    b"GET /version HTTP/1.1\r\nHost: x\r\n",  # truncated headers: no answer, no harm
    b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\n\r\n",  # huge request line
    b"POST /proxies HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 100_000,
]


@pytest.mark.parametrize("payload", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests(
    api: httpx.Client, server_url: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    # Truncated payloads get no answer (the server waits for the rest): 1.5 s is enough to
    # see that nothing bad came back; the complete ones are answered and closed at once.
    answer = raw_exchange(server_url, payload, timeout=1.5)
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 600 and status != 500, answer[:200]
    assert api.get("/version").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_pipelined_keep_alive_requests(server_url: str) -> None:
    request = b"GET /proxies HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /proxies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(server_url, request * 2 + last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.count(b"Connection: close") == 1


def test_chunked_body_and_expect_continue(server_url: str, echo_upstream: str) -> None:
    body = b'{"name":"c","listen":"127.0.0.1:0","upstream":"' + echo_upstream.encode() + b'"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    request = (
        b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n" + chunked
    )
    answer = raw_exchange(server_url, request)
    assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")


def test_http10_closes_after_response(server_url: str) -> None:
    """Go answers in the request's version; an HTTP/1.0 client gets no ``Connection`` header."""
    answer = raw_exchange(server_url, b"GET /version HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Connection:" not in head
    assert body == b'{"version": "2.12.0"}\n'


def test_http10_keep_alive_is_honoured(server_url: str) -> None:
    request = b"GET /version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    answer = raw_exchange(server_url, request + b"GET /version HTTP/1.0\r\n\r\n")
    assert answer.count(b"HTTP/1.0 200 OK\r\n") == 2
    assert answer.count(b"Connection: keep-alive\r\n") == 1


def test_http10_expect_gets_no_100_continue(server_url: str) -> None:
    request = b"POST /proxies HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"
    answer = raw_exchange(server_url, request)
    assert answer.startswith(b"HTTP/1.0 400 Bad Request\r\n")
    assert answer.endswith(b'{"error":"missing required field: name","status":400}\n')


def test_missing_host_is_400(server_url: str) -> None:
    answer = raw_exchange(server_url, b"GET /version HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer == (
        b"HTTP/1.1 400 Bad Request: missing required Host header\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        b"400 Bad Request: missing required Host header"
    )


def test_header_block_up_to_one_mebibyte_is_accepted(server_url: str) -> None:
    """Go reads a request line and headers of up to 1 MiB + 4 KiB, in lines of any length."""
    start = b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    one_line = b"X: " + b"a" * (1024 * 1024 - 200) + b"\r\n"
    many_lines = b"".join(b"X-%d: " % i + b"b" * 60_000 + b"\r\n" for i in range(17))
    for headers in (one_line, many_lines):
        answer = raw_exchange(server_url, start + headers + b"\r\n")
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:100]


def test_header_block_over_the_limit_is_431(server_url: str) -> None:
    answer = raw_exchange(server_url, OVERSIZED_HEADERS)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert answer.endswith(b"\r\n\r\n431 Request Header Fields Too Large")


def test_deeply_nested_json_is_400(api: httpx.Client) -> None:
    response = api.post("/proxies", content=b'{"name":' + b"[" * 100_000)
    assert response.status_code == 400
    assert api.get("/version").status_code == 200
