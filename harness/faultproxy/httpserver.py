"""A small HTTP/1.1 server on asyncio streams for the Toxiproxy API.

Hand-written rather than an ASGI server because byte-level fidelity matters here: Toxiproxy's
clients see Go ``net/http`` responses (exact status lines, content types, ``Content-Length``,
no extra headers), and the API must answer malformed requests with a 4xx and carry on. The
API is tiny and request bodies are small, so a plain request/response loop with keep-alive,
``Expect: 100-continue``, chunked request bodies and hard size and time limits is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus

__all__ = ["HttpServer", "Request", "Response"]

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_BODY = 8 * 1024 * 1024
#: Go's server: idle 60 s between requests, 15 s to read one, 25 s for the handler.
IDLE_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 15.0
HANDLER_TIMEOUT_S = 25.0


@dataclass
class Request:
    method: str
    path: str
    """The request path before percent-decoding, without the query string."""
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class HttpServer:
    """Serve ``handler`` on 127.0.0.1; one task per client connection."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve_client, host, port, limit=MAX_LINE, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._clients.add(writer)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # Shutdown: asyncio's done-callback for client tasks logs cancelled ones as errors.
            pass
        except Exception:  # never let one client take the API down
            log.exception("API connection failed")
        finally:
            self._clients.discard(writer)
            writer.transport.close()

    async def _serve_requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                async with asyncio.timeout(IDLE_TIMEOUT_S):
                    first = await _read_line(reader, "request line too long")
                if not first:
                    return
                async with asyncio.timeout(READ_TIMEOUT_S):
                    request, keep_alive = await _read_request(first, reader, writer)
            except BadRequest as err:
                body = f"{err.status} {HTTPStatus(err.status).phrase}".encode()
                await _write(writer, Response(err.status, body, "text/plain; charset=utf-8"), False)
                return
            try:
                async with asyncio.timeout(HANDLER_TIMEOUT_S):
                    response = await self._handler(request)
            except TimeoutError:
                response = Response(503, b"<html><body>Timeout</body></html>", "text/html")
            await _write(writer, response, keep_alive, head=request.method == "HEAD")
            if not keep_alive:
                return


async def _read_request(
    first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[Request, bool]:
    if not first.endswith(b"\n"):
        raise BadRequest(400, "request line too long or truncated")
    parts = first.decode("latin-1").strip("\r\n").split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1]:
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505 if version.startswith("HTTP/") else 400, "unsupported version")
    headers = await _read_headers(reader)
    path = _path_of(target)
    keep_alive = _keep_alive(version, headers.get("connection", ""))
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    return Request(method, path, headers, body), keep_alive


async def _read_line(reader: asyncio.StreamReader, too_long: str) -> bytes:
    try:
        return await reader.readline()
    except ValueError:  # asyncio's "separator is not found, chunk exceed the limit"
        raise BadRequest(431, too_long) from None


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    total = 0
    while True:
        line = await _read_line(reader, "header line too long")
        if not line.endswith(b"\n"):
            raise BadRequest(400, "truncated headers")
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise BadRequest(431, "headers too large")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            return headers
        name, colon, value = text.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(400, "malformed header")
        headers[name.lower()] = value.strip()


def _path_of(target: str) -> str:
    if target.startswith(("http://", "https://")):
        # Go accepts absolute-form targets; only the path matters.
        after_scheme = target.split("://", 1)[1]
        slash = after_scheme.find("/")
        target = after_scheme[slash:] if slash >= 0 else "/"
    return target.split("?", 1)[0].split("#", 1)[0]


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    encoding = headers.get("transfer-encoding", "").lower()
    if encoding:
        if encoding != "chunked" or "content-length" in headers:
            raise BadRequest(400, "unsupported transfer encoding")
        return await _read_chunked(reader)
    length_text = headers.get("content-length", "0") or "0"
    if not length_text.isdigit():
        raise BadRequest(400, "bad content length")
    length = int(length_text)
    if length > MAX_BODY:
        raise BadRequest(413, "body too large")
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await _read_line(reader, "chunk size line too long")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, "bad chunk size") from None
        if size < 0 or len(body) + size > MAX_BODY:
            raise BadRequest(413, "body too large")
        if size == 0:
            # Trailers, up to the empty line.
            for _ in range(1000):
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    return bytes(body)
            raise BadRequest(400, "too many trailers")
        body += await reader.readexactly(size)
        if (await reader.readline()) not in (b"\r\n", b"\n"):
            raise BadRequest(400, "bad chunk terminator")


async def _write(
    writer: asyncio.StreamWriter, response: Response, keep_alive: bool, *, head: bool = False
) -> None:
    phrase = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {phrase}"]
    if response.content_type is not None:
        lines.append(f"Content-Type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    lines.append(f"Date: {formatdate(usegmt=True)}")
    lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    writer.write(payload if head else payload + response.body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
