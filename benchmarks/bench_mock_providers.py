"""Benchmark: one mock provider process against a bare ASGI endpoint on the same stack.

Measures, in one run, so the ratios mean something on any machine:

1. non-streaming chat completions per second of `python -m mock_providers openai` (journal on)
   vs a bare raw-ASGI endpoint returning fixed JSON on the same uvicorn (httptools, uvloop)
   stack; printed as a ratio (goal >= 0.8);
2. 1,000 concurrent streams at a 50 ms frame interval: p50/p99 of the gaps between frames seen
   by the client, and the mock's CPU use;
3. the streaming "knee": the concurrency at which the frame-gap p99 exceeds twice the interval,
   for the mock and for a bare raw-ASGI streaming endpoint sending the same frames.

Usage: python benchmarks/bench_mock_providers.py [--quick] [--client auto|wrk|python]
The load generator is `wrk` when installed (C, one thread), else a built-in asyncio client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psutil

REPO = Path(__file__).resolve().parents[1]
CHAT_BODY = orjson.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
)
STREAM_BODY = orjson.dumps(
    {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "Say something short"}],
        "max_tokens": 20,
    }
)


# ---- the bare baseline servers (run in a child process) ------------------------------------


def _bare_json_app(body: bytes) -> Callable[..., Awaitable[None]]:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def _bare_stream_app(frames: list[bytes], interval_s: float) -> Callable[..., Awaitable[None]]:
    headers = [(b"content-type", b"text/event-stream; charset=utf-8")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        while message.get("more_body"):
            message = await receive()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, frame in enumerate(frames):
            if i:
                await asyncio.sleep(interval_s)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def serve_bare(kind: str, interval_ms: float) -> None:
    import uvicorn

    # The baseline answers with what the mock answers (same size), rendered once.
    sample = sample_reply()
    if kind == "json":
        app = _bare_json_app(sample["json"])
    else:
        app = _bare_stream_app(sample["frames"], interval_ms / 1000.0)
    from mock_providers.server import bind, url_of

    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    print(f"BROWNOUT_READY {url_of(sock)}", flush=True)
    server.run(sockets=[sock])


def sample_reply() -> dict[str, Any]:
    """A real mock reply (plain and streamed) to replay from the bare server."""
    import httpx

    from mock_providers import MockConfig, MockServer

    with MockServer(MockConfig("openai")) as mock, httpx.Client(base_url=mock.url) as http:
        plain = http.post("/v1/chat/completions", content=CHAT_BODY).content
        streamed = http.post("/v1/chat/completions", content=STREAM_BODY).content
    frames = [f + b"\n\n" for f in streamed.split(b"\n\n") if f]
    return {"json": plain, "frames": frames}


# ---- child processes ---------------------------------------------------------------------


class Child:
    def __init__(self, args: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=REPO,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("BROWNOUT_READY "):
            self.proc.kill()
            raise RuntimeError(f"child {args} did not start: {line!r}")
        self.url = line.split()[1]
        self.ps = psutil.Process(self.proc.pid)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_mock(journal: Path, extra: list[str] | None = None) -> Child:
    return Child(
        ["-m", "mock_providers", "openai", "--port", "0", "--journal", str(journal), *(extra or [])]
    )


def start_bare(kind: str, interval_ms: float = 50.0) -> Child:
    return Child([__file__, "--serve-bare", kind, "--interval-ms", str(interval_ms)])


# ---- load generators -------------------------------------------------------------------------


UNIQUE_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":' ..
    '"What is the capital of country number ' .. counter .. '?"}]}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def wrk_rps(url: str, seconds: float, connections: int, unique: bool) -> tuple[float, int]:
    """wrk, one thread: the same body every time, or (`unique`) a new prompt every request."""
    body = CHAT_BODY.decode().replace("\\", "\\\\").replace('"', '\\"')
    fixed = (
        f'wrk.method = "POST"\nwrk.body = "{body}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(UNIQUE_LUA if unique else fixed)
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            url + "/v1/chat/completions",
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    if not match or not total or "Non-2xx" in out:
        raise RuntimeError(f"wrk failed:\n{out}")
    return float(match.group(1)), int(total.group(1))


def _http_post(body: bytes) -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


async def _py_rps(url: str, seconds: float, connections: int, unique: bool) -> tuple[float, int]:
    """The fallback load generator: keep-alive connections, one request in flight on each."""
    host, port = url.removeprefix("http://").split(":")
    fixed = _http_post(CHAT_BODY)
    done = 0
    deadline = time.perf_counter() + seconds

    def next_request() -> bytes:
        if not unique:
            return fixed
        question = f"What is the capital of country number {done}?"
        return _http_post(
            orjson.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
            )
        )

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < deadline:
            writer.write(next_request())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            length = re.search(rb"(?i)content-length: (\d+)", head)
            assert length is not None
            await reader.readexactly(int(length.group(1)))
            done += 1
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - t0), done


def rps(
    client: str, child: Child, seconds: float, connections: int, unique: bool = False
) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request)."""
    cpu0 = child.cpu_s()
    if client == "wrk":
        rate, total = wrk_rps(child.url, seconds, connections, unique)
    else:
        import uvloop

        rate, total = uvloop.run(_py_rps(child.url, seconds, connections, unique))
    return rate, (child.cpu_s() - cpu0) / max(1, total) * 1e6


async def _streams(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` clients each streaming back to back; gaps between frames they see."""
    host, port = url.removeprefix("http://").split(":")
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(STREAM_BODY), STREAM_BODY)
    )
    gaps: list[float] = []
    streams = 0
    failures = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal streams, failures
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            failures += 1
            return
        while time.perf_counter() < deadline:
            writer.write(request)
            await reader.readuntil(b"\r\n\r\n")
            last: float | None = None
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                now = time.perf_counter()
                # Only gaps between data frames paced by the server (not the first frame).
                if last is not None and b"data: " in data:
                    gaps.append(now - last)
                last = now
            streams += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    gaps.sort()

    def q(p: float) -> float:
        return gaps[min(len(gaps) - 1, int(p * len(gaps)))] * 1000 if gaps else float("nan")

    return {
        "p50_ms": q(0.50),
        "p99_ms": q(0.99),
        "streams": streams,
        "frames": len(gaps),
        "failures": failures,
    }


def stream_run(child: Child, concurrency: int, seconds: float) -> dict[str, float]:
    import uvloop

    cpu0, t0 = child.cpu_s(), time.perf_counter()
    result = uvloop.run(_streams(child.url, concurrency, seconds))
    result["cpu_pct"] = 100 * (child.cpu_s() - cpu0) / (time.perf_counter() - t0)
    return result


# ---- the benchmark ---------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--serve-bare", choices=("json", "stream"))
    p.add_argument("--interval-ms", type=float, default=50.0)
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--seconds", type=float, default=0.0)
    p.add_argument("--only", choices=("all", "nonstream", "streams"), default="all")
    args = p.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare, args.interval_ms)
        return 0
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    rounds = 2 if args.quick else 3
    print(
        f"# machine: {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}, "
        f"python {sys.version.split()[0]}, client={client}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "provider_calls.jsonl"
        if args.only in ("all", "nonstream"):
            bench_nonstream(client, journal, seconds, rounds)
        if args.only in ("all", "streams"):
            bench_streams(journal, seconds, args.interval_ms, args.quick)
    return 0


def bench_nonstream(client: str, journal: Path, seconds: float, rounds: int) -> None:
    mock = start_mock(journal)
    bare = start_bare("json")
    runs: dict[str, list[tuple[float, float]]] = {"mock": [], "bare": [], "unique": []}
    try:
        rps(client, mock, 1.0, 16)  # warm-up
        rps(client, bare, 1.0, 16)
        # Interleaved rounds, so machine noise hits every side alike.
        for _ in range(rounds):
            runs["mock"].append(rps(client, mock, seconds, 32))
            runs["bare"].append(rps(client, bare, seconds, 32))
            runs["unique"].append(rps(client, mock, seconds, 32, unique=True))
    finally:
        mock.stop()
        bare.stop()
    rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
    lines = sum(1 for _ in journal.open("rb"))
    print(f"non-stream, bare ASGI: {rate['bare']:,.0f} req/s, {cpu['bare']:.0f} us CPU/request")
    for key, label in (
        ("mock", "repeated prompt (replay path)"),
        ("unique", "new prompt every call (full path)"),
    ):
        print(
            f"non-stream, mock, {label}: {rate[key]:,.0f} req/s, ratio "
            f"{rate[key] / rate['bare']:.2f}; {cpu[key]:.0f} us CPU/request, ratio "
            f"{cpu['bare'] / cpu[key]:.2f}"
        )
    print(
        f"  (req/s per round: { {k: [round(r) for r, _ in v] for k, v in runs.items()} }; "
        f"{lines:,} journal lines written)"
    )


def bench_streams(journal: Path, seconds: float, interval_ms: float, quick: bool) -> None:
    pace = ["--tokens-per-s", str(1000.0 / interval_ms)]
    mock = start_mock(journal, pace)
    try:
        stream_run(mock, 100, 1.0)  # warm-up
        r = stream_run(mock, 1000, seconds * 1.5)
    finally:
        mock.stop()
    print(
        f"1000 streams @ {interval_ms:g} ms: frame gap p50 {r['p50_ms']:.1f} ms, "
        f"p99 {r['p99_ms']:.1f} ms, mock CPU {r['cpu_pct']:.0f}%, "
        f"{r['streams']:.0f} streams, {r['frames']:.0f} frames, "
        f"{r['failures']:.0f} connect failures"
    )

    # The knee: both servers at each level, interleaved, until both exceed 2x the interval.
    levels = [250, 500, 1000, 2000] if quick else [250, 500, 1000, 1500, 2000, 3000, 4000]
    knees: dict[str, int | None] = {"mock": None, "bare": None}
    factories: dict[str, Callable[[], Child]] = {
        "mock": lambda: start_mock(journal, pace),
        "bare": lambda: start_bare("stream", interval_ms),
    }
    for level in levels:
        row = []
        for label, factory in factories.items():
            if knees[label] is not None:
                continue
            child = factory()
            try:
                stream_run(child, 50, 0.5)  # warm-up
                r = stream_run(child, level, seconds)
            finally:
                child.stop()
            row.append(f"{label} p99 {r['p99_ms']:.0f} ms CPU {r['cpu_pct']:.0f}%")
            if r["p99_ms"] > 2 * interval_ms:
                knees[label] = level
        print(f"  {level:5} streams: " + "; ".join(row))
        if all(k is not None for k in knees.values()):
            break

    def fmt(k: int | None) -> str:
        return f"{k}" if k else f"> {levels[-1]}"

    print(
        f"streaming knee (frame gap p99 > {2 * interval_ms:g} ms): mock {fmt(knees['mock'])} "
        f"streams, bare ASGI {fmt(knees['bare'])} streams"
    )


if __name__ == "__main__":
    raise SystemExit(main())
