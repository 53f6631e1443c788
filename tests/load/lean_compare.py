"""Sends the same awkward requests through brownout's lean path and through FastHttpSession.

Run as a script (it imports Locust, which monkey-patches the interpreter, so never inside the
test process): ``python lean_compare.py OUT.json``. A gevent server on 127.0.0.1 (ephemeral
port) records every request's raw bytes and answers by path; for each path (``session``, then
``lean``) the script writes what reached the wire, the records brownout wrote and the
``events.request`` Locust saw, with request ids drawn from the same deterministic sequence.
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path
from typing import Any

import gevent
from gevent.server import StreamServer
from gevent.socket import socket as gsocket
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook

from harness.load import lean as lean_module
from harness.load import sending
from harness.load.config import LoadConfig
from harness.load.records import RequestRecord

SSE = b"data: a\n\n", b"data: b\n\n", b"data: [DONE]\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _head(status: str, headers: list[str], length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Server:
    """Records each request's bytes; answers by path."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.port = self.server.server_port

    def handle(self, sock: gsocket, _address: Any) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = sock.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                rest += sock.recv(65536)
            self.seen.append(head + b"\r\n\r\n" + rest[:length])
            buffer = rest[length:]
            path = head.split(b" ")[1].decode()
            if not self.answer(sock, path.split("?")[0]):
                sock.close()
                return

    def answer(self, sock: gsocket, path: str) -> bool:
        ok = b'{"answer": "ok"}'
        if path in ("/ok", "/final", "/row/1", "/row/2"):
            sock.sendall(_head("200 OK", ["Content-Type: application/json"], len(ok)) + ok)
        elif path == "/err":
            body = b'{"error": "overloaded"}'
            sock.sendall(_head("503 Service Unavailable", [], len(body)) + body)
        elif path == "/bad":
            body = b'{"other": 1}'
            sock.sendall(_head("200 OK", [], len(body)) + body)
        elif path == "/redirect":
            sock.sendall(_head("302 Found", ["Location: /final"], 0))
        elif path == "/see-other":
            sock.sendall(_head("303 See Other", ["Location: /final"], 0))
        elif path == "/cookie":
            cookie = ["Set-Cookie: session=abc123; Path=/"]
            sock.sendall(_head("200 OK", cookie, len(ok)) + ok)
        elif path == "/sse":
            sock.sendall(_head("200 OK", ["Transfer-Encoding: chunked"], None))
            for event in SSE:
                gevent.sleep(0.01)
                sock.sendall(_chunk(event))
            sock.sendall(b"0\r\n\r\n")
        elif path == "/cut":
            sock.sendall(_head("200 OK", [], 100) + b'{"answer": ')
            return False
        elif path == "/reset":
            return False
        elif path == "/hang":
            gevent.sleep(3)
            return False
        elif path == "/empty":
            sock.sendall(_head("204 No Content", [], None))
        return True


def templates() -> list[dict[str, Any]]:
    ask = {"question": "what is backoff? é"}
    return [
        {"path": "/ok", "json": ask},
        {"path": "/ok", "bodies": [{"q": 1}, {"q": [1, 2.5, None]}]},
        {"path": "/ok", "method": "GET"},
        {
            "path": "/ok",
            "json": ask,
            "headers": {"content-type": "application/vnd+json", "ACCEPT": "*/*", "X-Key": "k"},
        },
        {"path": "/ok", "json": ask, "headers": {"Accept-Encoding": "gzip"}},
        {"path": "/ok?x=a b&y=%2F", "json": ask},
        {"path": "/err", "json": ask},
        {"path": "/bad", "json": ask},
        {"path": "/redirect", "json": ask},
        {"path": "/see-other", "json": ask},
        {"path": "/cookie", "json": ask},
        {"path": "/sse", "json": ask, "stream": True},
        {"path": "/empty", "method": "DELETE"},
        {"path": "/cut", "json": ask},
        {"path": "/reset", "json": ask},
        {"path": "/hang", "json": ask},
        {
            "path": "/row/{row.n}",
            "json": {"n": "{row.n}", "q": "row {row.n}"},
            "headers": {"X-N": "{row.n}"},
        },
    ]


def run(
    lean: bool, host: str, refused: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    records: list[RequestRecord] = []
    events: list[dict[str, Any]] = []
    kinds: list[str] = []  # for each request, the path that sent it
    ids = itertools.count()
    sending.new_request_id = lambda: f"{next(ids):032x}"  # type: ignore[assignment]
    sending.traceparent = lambda request_id: f"00-{request_id}-{request_id[:16]}-01"  # type: ignore[assignment]

    def fired(**meta: Any) -> None:
        response = meta.pop("response")
        meta.pop("response_time")
        meta.pop("start_time")
        meta["status"] = response.status_code
        meta["exception"] = repr(meta["exception"])
        events.append(meta)

    direct = lean_module.LeanSession.request

    def counted(self: lean_module.LeanSession, *args: Any) -> Any:
        kinds.append("lean")
        return direct(self, *args)

    lean_module.LeanSession.request = counted  # type: ignore[method-assign]
    hook = EventHook()
    hook.add_listener(fired)
    for spec in templates():
        for target in (host, refused) if spec["path"] == "/ok" and "json" in spec else (host,):
            config = LoadConfig.from_dict(
                {"host": target, "run_time_s": 1, "requests_file": "unused.jsonl", "request": spec,
                 "validators": [{"type": "json_field", "field": "answer"}]}
            )  # fmt: skip
            # A session per template: a cookie set by one must not route the others' requests
            # through FastHttpSession (the second /cookie request carries its cookie).
            session = FastHttpSession(
                base_url=target, request_event=hook, user=None, network_timeout=0.5,
                connection_timeout=0.5, max_retries=0, concurrency=4,
            )  # fmt: skip
            session.client.valid_response_codes = frozenset(range(100, 600))
            rows = sending.Rows([{"n": 1}, {"n": 2}] if "row" in spec["path"] else (), "sequential")
            sender = sending.Sender(config, rows, records.append, lean=lean)
            for number in range(2):
                sender.send(session, random.Random(number), number)
    timing = ("t_start", "t_end", "latency_ms", "ttft_ms", "itl_ms")
    rows = [{k: v for k, v in json.loads(r.to_json()).items() if k not in timing} for r in records]
    for row, record in zip(rows, records, strict=True):
        row["streamed"] = record.ttft_ms is not None
    lean_module.LeanSession.request = direct  # type: ignore[method-assign]
    kinds.extend(["session"] * (len(records) - len(kinds)))
    return rows, events, kinds


def main() -> None:
    server = Server()
    closed = StreamServer(("127.0.0.1", 0), lambda *_: None)
    closed.init_socket()
    refused_port = closed.server_port
    closed.close()  # nothing listens there now: connections are refused
    host, refused = f"http://127.0.0.1:{server.port}", f"http://127.0.0.1:{refused_port}"
    result: dict[str, Any] = {}
    for name, lean in (("session", False), ("lean", True)):
        server.seen.clear()
        records, events, kinds = run(lean, host, refused)
        wire = [b.decode("latin-1") for b in server.seen]
        result[name] = {"wire": wire, "records": records, "events": events, "kinds": kinds}
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
