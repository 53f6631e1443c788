"""Small SUTs with known behaviour, for the load driver's ground-truth tests.

Each is a real HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a thread, one thread
per connection) whose behaviour is simple enough to compute by hand:

- ``SlowProvider``: answers every call after ``latency_s`` with ``status``; logs each call time.
- ``RetrySUT``: for each ``/ask``, calls the provider and retries every failure at once, for
  exactly ``1 + retries`` attempts when all fail.
- ``QueueSUT``: serves ``/ask`` with ``concurrency`` workers: a request waits (queues) for a
  worker, then calls the provider once; it logs (time, queue depth) at every change.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (the load stopped mid-request) is expected, not news.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: Any = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if hasattr(self.app, "answer"):
            status, body = self.app.answer(self.path, json.loads(raw) if raw else None)
        else:
            status, body = self.app.handle(self.path)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` (an object with ``handle(path) -> (status, body)``) on a free port."""
    handler = type("Handler", (_Handler,), {"app": app})
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class SlowProvider:
    def __init__(self, latency_s: float, status: int = 200) -> None:
        self.latency_s = latency_s
        self.status = status
        self.calls: list[float] = []
        self._lock = threading.Lock()

    def handle(self, path: str) -> tuple[int, Any]:
        with self._lock:
            self.calls.append(time.time())
            latency_s = self.latency_s
        time.sleep(latency_s)
        return self.status, {"answer": "ok"}


def _call(url: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", "/v1/chat", body=b"{}")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class RetrySUT:
    def __init__(self, provider_url: str, retries: int) -> None:
        self.provider_url = provider_url
        self.retries = retries

    def handle(self, path: str) -> tuple[int, Any]:
        for _ in range(1 + self.retries):
            status = _call(self.provider_url)
            if status < 500:
                return 200, {"answer": "ok"}
        return 502, {"error": "provider failed"}


class QueueSUT:
    def __init__(self, provider_url: str, concurrency: int) -> None:
        self.provider_url = provider_url
        self._workers = threading.Semaphore(concurrency)
        self._lock = threading.Lock()
        self.depth = 0
        self.depth_log: list[tuple[float, int]] = []
        self.arrivals: list[float] = []

    def _change(self, delta: int) -> None:
        with self._lock:
            self.depth += delta
            self.depth_log.append((time.time(), self.depth))

    def handle(self, path: str) -> tuple[int, Any]:
        with self._lock:
            self.arrivals.append(time.time())
        self._change(+1)
        with self._workers:
            self._change(-1)
            status = _call(self.provider_url)
        return (200, {"answer": "ok"}) if status < 500 else (502, {"error": "provider failed"})


class KnowsSomeAnswers:
    """Answers ``{"question": q}`` with ``{"answer": answers[q]}``, except for ``wrong``
    questions, which get a confident wrong answer with 200 OK; logs every path it is asked."""

    def __init__(self, answers: dict[str, str], wrong: set[str]) -> None:
        self.answers = answers
        self.wrong = wrong
        self.paths: list[str] = []

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        self.paths.append(path)
        if path != "/ask":
            return 200, {"status": "ok"}
        question = body["question"] if isinstance(body, dict) else ""
        if question in self.wrong:
            return 200, {"answer": "forty-two"}
        return 200, {"answer": self.answers.get(question, "")}
