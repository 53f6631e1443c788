"""The mock stays up under hostile clients: oversized heads (431), bodies (413), and
connections that dribble or stall (408, closed)."""

from __future__ import annotations

import socket
import time

import pytest
from mockprov_support import Mock

from mock_providers.core.limits import MAX_HEADER_BYTES, MAX_HEADERS, GuardedProtocol


def connect(mock: Mock) -> socket.socket:
    host, port = mock.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def answer(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_oversized_heads_and_bodies(openai_mock: Mock) -> None:
    big = b"x" * (MAX_HEADER_BYTES + 10)
    with connect(openai_mock) as s:
        s.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: " + big + b"\r\n\r\n")
        assert answer(s).startswith(b"HTTP/1.1 431 ")
    many = b"".join(b"x-h%d: v\r\n" % i for i in range(MAX_HEADERS + 5))
    with connect(openai_mock) as s:
        s.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
        assert answer(s).startswith(b"HTTP/1.1 431 ")
    with connect(openai_mock) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 40000000\r\n\r\n{"
        )
        assert answer(s).startswith(b"HTTP/1.1 413 ")
    assert openai_mock.http.get("/_brownout/health").status_code == 200
    assert openai_mock.http.get("/v1/models", headers={"x-ok": "y" * 1000}).status_code == 200


def test_slowloris_and_stalled_body_are_closed(
    openai_mock: Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GuardedProtocol, "head_timeout_s", 1.0)
    monkeypatch.setattr(GuardedProtocol, "body_timeout_s", 1.0)
    started = time.monotonic()
    with connect(openai_mock) as loris, connect(openai_mock) as stall:
        stall.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
        )
        loris.sendall(b"GET /v1/models HTTP/1.1\r\n")
        for _ in range(4):  # a header byte now and then never completes the head
            time.sleep(0.3)
            try:
                loris.sendall(b"x")
            except OSError:
                break
        assert answer(loris).startswith(b"HTTP/1.1 408 ")
        assert answer(stall).startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 12
    assert openai_mock.http.get("/_brownout/health").status_code == 200
