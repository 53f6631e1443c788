"""Test support for the example SUT: a fake OpenAI provider, process start-up, metric parsing.

The fake provider is deliberately tiny and in-process (uvicorn in a thread) so a test can change
its behaviour between requests and read exactly which calls it received; the real mock provider
package is tested on its own. Shared by tests/examples and tests/load (imported by path there).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

REPO = Path(__file__).resolve().parents[2]
SUT_APP = REPO / "examples" / "rag_sut" / "app.py"
READY_PREFIX = "BROWNOUT_READY "


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02
) -> Any:
    """Poll ``predicate`` until truthy; on timeout fail showing the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


# ---- fake provider ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """What the fake provider answers. With ``chunks`` it streams them as the body instead
    (``chunk_delay_s`` apart), then ends normally, ``"cut"``s the connection mid-body or
    ``"stall"``s for a minute."""

    status: int = 200
    content: str = "Retries multiply load [p1]."
    headers: tuple[tuple[str, str], ...] = ()
    hang_s: float = 0.0
    chunks: tuple[str, ...] = ()
    chunk_delay_s: float = 0.0
    then: str = "end"


@dataclass(frozen=True)
class ProviderCall:
    t: float
    path: str
    request_id: str | None
    retry_count: str | None
    authorization: str | None
    body: Any
    status: int


Responder = Callable[[str | None, int], Reply]
"""(X-Request-Id, how many calls this request id made before) -> the reply."""


def sse_reply(deltas: tuple[str, ...], then: str = "end", delay_s: float = 0.0) -> Reply:
    """An OpenAI-style streamed chat completion of ``deltas``; ``then`` is ``"end"`` (with
    ``[DONE]``), ``"no_done"`` (ends cleanly without it), ``"cut"`` or ``"stall"``."""
    frames = [
        "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": d}}]}) + "\n\n"
        for d in deltas
    ]
    if then == "end":
        frames.append("data: [DONE]\n\n")
    return Reply(
        chunks=tuple(frames), then="end" if then == "no_done" else then, chunk_delay_s=delay_s
    )


def always(reply: Reply) -> Responder:
    return lambda _rid, _n: reply


@dataclass
class FakeProvider:
    url: str = ""
    calls: list[ProviderCall] = field(default_factory=list)
    responder: Responder = field(default_factory=lambda: always(Reply()))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_for(self, request_id: str) -> list[ProviderCall]:
        with self._lock:
            return [c for c in self.calls if c.request_id == request_id]

    def snapshot(self) -> list[ProviderCall]:
        with self._lock:
            return list(self.calls)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        request_id = headers.get("x-request-id")
        with self._lock:
            seen = sum(1 for c in self.calls if c.request_id == request_id)
        reply = self.responder(request_id, seen)
        try:
            body_in = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            body_in = None
        with self._lock:
            self.calls.append(
                ProviderCall(
                    time.time(),
                    scope["path"],
                    request_id,
                    headers.get("x-stainless-retry-count"),
                    headers.get("authorization"),
                    body_in,
                    reply.status,
                )
            )
        if reply.hang_s:
            await asyncio.sleep(reply.hang_s)
        if reply.chunks:
            await self._stream(reply, send)
            return
        if reply.status == 200:
            payload: dict[str, Any] = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        else:
            payload = {"error": {"message": "fake failure", "type": "server_error", "code": None}}
        data = json.dumps(payload).encode()
        out_headers = [(b"content-type", b"application/json")]
        out_headers += [(k.encode(), v.encode()) for k, v in reply.headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": data})

    async def _stream(self, reply: Reply, send: Any) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        for chunk in reply.chunks:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
            await asyncio.sleep(reply.chunk_delay_s)
        if reply.then == "cut":
            # Leaving an ASGI response unfinished makes uvicorn drop the connection mid-body.
            raise ConnectionAbortedError("fake provider cuts the stream")
        if reply.then == "stall":
            await asyncio.sleep(60)
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def running_fake_provider() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        provider,
        log_level="critical",  # a deliberately cut stream is not worth a logged traceback
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 10, "fake provider to start")
    provider.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield provider
    finally:
        # Do not wait for stalled responses that a test left hanging on purpose.
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)
        sock.close()


# ---- processes --------------------------------------------------------------------------------


@dataclass
class ReadyProcess:
    proc: subprocess.Popen[str]
    url: str
    stderr_path: Path

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def start_ready_process(cmd: list[str], stderr_path: Path, timeout: float = 20) -> ReadyProcess:
    """Start ``cmd`` and wait (with a deadline) for its BROWNOUT_READY line on stdout."""
    stderr_file = stderr_path.open("w")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=stderr_file, text=True, env=os.environ.copy()
    )
    stderr_file.close()
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(READY_PREFIX):
            return ReadyProcess(proc, line[len(READY_PREFIX) :].strip(), stderr_path)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    raise AssertionError(
        f"{cmd} did not print {READY_PREFIX.strip()} within {timeout}s "
        f"(exit {proc.returncode}); stdout={seen!r}; stderr={stderr_path.read_text()[-2000:]!r}"
    )


def sut_command(provider_url: str, policy: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(SUT_APP),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--provider-url",
        provider_url,
        "--policy",
        policy,
        "--seed",
        "7",
        *extra,
    ]


# ---- Prometheus text --------------------------------------------------------------------------

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$"
)
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Strict enough parse of the text format: every non-comment line must be a sample."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(maxsplit=3)
            assert kind in ("counter", "gauge", "summary", "histogram", "untyped"), line
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(count|sum|bucket)$", "", name)
        assert name in types or family in types, f"sample without # TYPE: {line!r}"
        labels = frozenset((m["key"], m["value"]) for m in _LABEL.finditer(match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples
