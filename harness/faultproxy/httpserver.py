"""A small HTTP/1.1 (and 1.0) server on asyncio streams for the Toxiproxy API.

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

#: Go's ``http.DefaultMaxHeaderBytes`` plus the 4 KiB of slack its reader allows: the request
#: line and every header line together may take this many bytes, a longer block is a 431.
MAX_HEADER_BYTES = 1024 * 1024 + 4096
MAX_LINE = MAX_HEADER_BYTES
MAX_BODY = 8 * 1024 * 1024
#: Pending connections the kernel may queue for the API (capped by net.core.somaxconn); Go
#: listens with somaxconn, and asyncio's default of 100 resets bursts of clients.
BACKLOG = 4096
#: Go's server: idle 60 s between requests, 15 s to read one, 25 s for the handler, and the
#: response written within 30 s of the request's end (else the connection is closed).
IDLE_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 15.0
HANDLER_TIMEOUT_S = 25.0
WRITE_TIMEOUT_S = 30.0
#: What Go's ``http.TimeoutHandler`` answers (503) when a handler overruns, byte for byte.
TIMEOUT_PAGE = b"<html><head><title>Timeout</title></head><body><h1>Timeout</h1></body></html>"


@dataclass
class Request:
    method: str
    path: str
    """The request path before percent-decoding, without the query string."""
    headers: dict[str, str]
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes
    version: str = "HTTP/1.1"
    """``HTTP/1.1`` or ``HTTP/1.0``: Go answers in the request's version."""
    early_headers: list[tuple[str, str]] = field(default_factory=list)
    """Response headers set on the way in, before the handler ran (Toxiproxy's request id):
    kept on the timeout page, as Go's middleware sets them outside its ``TimeoutHandler``."""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    sniffed_type: str | None = None
    """A content type Go adds by sniffing the body at the first write: it comes after
    ``Content-Length`` rather than with the handler's headers."""


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class HttpServer:
    """Serve ``handler`` on 127.0.0.1; one task per client connection."""

    def __init__(self, handler: Handler, *, handler_timeout_s: float = HANDLER_TIMEOUT_S) -> None:
        self._handler = handler
        self.handler_timeout_s = handler_timeout_s
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve_client, host, port, limit=MAX_LINE, reuse_address=True, backlog=BACKLOG
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
                await _write_bad_request(writer, err)
                return
            write_deadline = asyncio.get_running_loop().time() + WRITE_TIMEOUT_S
            try:
                async with asyncio.timeout(self.handler_timeout_s):
                    response = await self._handler(request)
            except TimeoutError:
                response = timeout_response(request)
            async with asyncio.timeout_at(write_deadline):
                await _write(
                    writer,
                    response,
                    keep_alive,
                    head=request.method == "HEAD",
                    version=request.version,
                )
            if not keep_alive:
                return


def timeout_response(request: Request) -> Response:
    """Go's ``http.TimeoutHandler`` page, byte for byte: the headers set before the handler
    (the request id), then ``Date``, ``Content-Length`` and the sniffed ``Content-Type``."""
    return Response(
        503,
        TIMEOUT_PAGE,
        headers=list(request.early_headers),
        sniffed_type="text/html; charset=utf-8",
    )


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
    headers = await _read_headers(reader, len(first))
    if version == "HTTP/1.1" and "host" not in headers:
        raise BadRequest(400, "missing required Host header")
    path = _path_of(target)
    keep_alive = _keep_alive(version, headers.get("connection", ""))
    if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
        # Go ignores Expect from HTTP/1.0 clients, which cannot know the 100 status.
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    return Request(method, path, headers, body, version), keep_alive


async def _read_line(reader: asyncio.StreamReader, too_long: str) -> bytes:
    try:
        return await reader.readline()
    except ValueError:  # asyncio's "separator is not found, chunk exceed the limit"
        raise BadRequest(431, too_long) from None


async def _read_headers(reader: asyncio.StreamReader, used: int) -> dict[str, str]:
    """Header lines up to the empty one; ``used`` bytes of the block went to the request line."""
    headers: dict[str, str] = {}
    total = used
    while True:
        line = await _read_line(reader, "header line too long")
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise BadRequest(431, "headers too large")
        if not line.endswith(b"\n"):
            raise BadRequest(400, "truncated headers")
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


async def _write_bad_request(writer: asyncio.StreamWriter, err: BadRequest) -> None:
    """Go's answer to a request it cannot parse: no Date, no length, the phrase as the body
    (plus the reason for a missing Host, as Go words it), then close."""
    text = f"{err.status} {HTTPStatus(err.status).phrase}"
    if err.text == "missing required Host header":
        text += ": " + err.text
    head = (
        f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
    )
    writer.write((head + text).encode("latin-1"))
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _write(
    writer: asyncio.StreamWriter,
    response: Response,
    keep_alive: bool,
    *,
    head: bool = False,
    version: str = "HTTP/1.1",
) -> None:
    phrase = HTTPStatus(response.status).phrase
    lines = [f"{version} {response.status} {phrase}"]
    if response.content_type is not None:
        lines.append(f"Content-Type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    lines.append(f"Date: {formatdate(usegmt=True)}")
    lines.append(f"Content-Length: {len(response.body)}")
    if response.sniffed_type is not None:
        lines.append(f"Content-Type: {response.sniffed_type}")
    if version == "HTTP/1.0":
        # HTTP/1.0 closes by default: Go says so only when it keeps the connection.
        if keep_alive:
            lines.append("Connection: keep-alive")
    elif not keep_alive:
        lines.append("Connection: close")
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    writer.write(payload if head else payload + response.body)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
