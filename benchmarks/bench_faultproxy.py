"""Benchmark: small HTTP requests through the embedded fault proxy on loopback.

Compares four paths to the same upstream, measured in one run so the ratios hold on any
machine:

* direct      — the load generator talks to the upstream itself;
* passthrough — a minimal asyncio (uvloop) TCP relay written below, the floor for any
                asyncio proxy;
* faultproxy  — ``python -m harness.faultproxy`` with one proxy and no toxics;
* faultproxy+noop — the same process, a proxy with a ``noop`` toxic in each direction: the
                cost of the toxic-stage machinery itself.

Load shapes: keep-alive with 8 and 64 connections, and one connection per request
(``Connection: close``). The upstream is nginx when installed (so it is not the bottleneck),
else a small uvloop HTTP responder. The load generator is ``wrk`` when installed, else a
Python asyncio generator (slower: its numbers are only comparable within one run).

    python benchmarks/bench_faultproxy.py [--duration 3] [--repeat 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

BODY = b'{"ok":true,"text":"hello from upstream"}'
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    target: str
    shape: str
    requests_per_s: float
    latency_avg_ms: float
    latency_p99_ms: float
    errors: int


# -- child processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextmanager
def child(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def upstream() -> Iterator[tuple[int, str]]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    port = free_port()
    if nginx:
        with tempfile.TemporaryDirectory() as prefix:
            conf = Path(prefix) / "nginx.conf"
            conf.write_text(
                f"""worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {prefix};
  proxy_temp_path {prefix};
  fastcgi_temp_path {prefix};
  uwsgi_temp_path {prefix};
  scgi_temp_path {prefix};
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{BODY.decode()}'; }}
  }}
}}
"""
            )
            with child([nginx, "-p", prefix, "-c", str(conf), "-g", "daemon off;"]):
                wait_port(port)
                yield port, "nginx (1 worker)"
        return
    with child([sys.executable, __file__, "--serve-upstream", str(port)]):
        wait_port(port)
        yield port, "uvloop HTTP responder"


@contextmanager
def passthrough(upstream_port: int) -> Iterator[int]:
    port = free_port()
    with child([sys.executable, __file__, "--serve-passthrough", str(port), str(upstream_port)]):
        wait_port(port)
        yield port


@contextmanager
def faultproxy(upstream_port: int) -> Iterator[tuple[int, int]]:
    """One fault proxy process; ports of a proxy without toxics and of one with a ``noop``
    toxic in each direction (so every chunk goes through the toxic-stage machinery)."""
    args = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
    with child(args) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("BROWNOUT_READY "):
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        url = line.split()[1]
        ports = []
        for name in ("bench", "bench-noop"):
            body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
            listen = httpx.post(url + "/proxies", json=body, timeout=10).json()["listen"]
            ports.append(int(listen.rsplit(":", 1)[1]))
        for stream in ("upstream", "downstream"):
            toxic = {"type": "noop", "stream": stream}
            httpx.post(
                url + "/proxies/bench-noop/toxics", json=toxic, timeout=10
            ).raise_for_status()
        yield ports[0], ports[1]


# -- the minimal pass-through proxy and the fallback upstream --------------------------------


def _run(coro_factory: object) -> None:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(coro_factory())  # type: ignore[operator]


def serve_passthrough(port: int, upstream_port: int) -> None:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(32768):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    _run(main)


def serve_upstream(port: int) -> None:
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(BODY), BODY)
    )

    class Responder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
                self.transport.write(response)  # type: ignore[attr-defined]
                if b"connection: close" in head.lower():
                    self.transport.close()
                    return

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Responder, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    _run(main)


# -- load generation -------------------------------------------------------------------------


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:  # wrk prints "-nan" or similar when it has no sample
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3.6e6}[unit]


def run_wrk(
    port: int, connections: int, close: bool, duration: int
) -> tuple[float, float, float, int]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if close:
        args += ["-H", "Connection: close"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    avg = _ms(re.search(r"Latency\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        errors += sum(int(g) for g in match.groups())
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(match.group(1))
    return rps, avg, p99, errors


async def _python_load(
    port: int, connections: int, close: bool, duration: int
) -> tuple[float, float, float, int]:
    request = (
        b"GET / HTTP/1.1\r\nHost: bench\r\n"
        + (b"Connection: close\r\n" if close else b"")
        + b"\r\n"
    )
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration

    async def one_response(reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)

    async def worker() -> None:
        nonlocal errors
        reader = writer = None
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await one_response(reader)  # type: ignore[arg-type]
                latencies.append(time.perf_counter() - start)
                if close:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                writer = None
        if writer is not None:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    avg = sum(latencies) / len(latencies) * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, avg, p99, errors


def run_python(
    port: int, connections: int, close: bool, duration: int
) -> tuple[float, float, float, int]:
    return asyncio.run(_python_load(port, connections, close, duration))


SHAPES = [("keep-alive x8", 8, False), ("keep-alive x64", 64, False), ("conn/request x8", 8, True)]


def benchmark(duration: int, repeat: int) -> tuple[list[Result], str, str]:
    load = run_wrk if shutil.which("wrk") else run_python
    generator = "wrk 1 thread" if shutil.which("wrk") else "python asyncio load generator"
    results: list[Result] = []
    with ExitStack() as stack:
        up_port, upstream_name = stack.enter_context(upstream())
        plain, noop = stack.enter_context(faultproxy(up_port))
        targets = {
            "direct": up_port,
            "passthrough": stack.enter_context(passthrough(up_port)),
            "faultproxy": plain,
            "faultproxy+noop": noop,
        }
        for shape, connections, close in SHAPES:
            runs: dict[str, list[Result]] = {target: [] for target in targets}
            for port in targets.values():
                load(port, connections, close, 1)  # warm-up
            # Interleaved repeats, median kept: loopback numbers on a shared machine are noisy.
            for _ in range(repeat):
                for target, port in targets.items():
                    rps, avg, p99, errors = load(port, connections, close, duration)
                    runs[target].append(Result(target, shape, rps, avg, p99, errors))
            for target_runs in runs.values():
                target_runs.sort(key=lambda r: r.requests_per_s)
                results.append(target_runs[len(target_runs) // 2])
    return results, upstream_name, generator


def report(results: list[Result], upstream_name: str, generator: str) -> str:
    lines = [
        f"upstream: {upstream_name}; load: {generator}; host: {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}; median of the repeats",
        "",
        "| shape | target | req/s | avg ms | p99 ms | errors | vs direct | vs passthrough |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for shape, _c, _close in SHAPES:
        row = {r.target: r for r in results if r.shape == shape}
        for target in ("direct", "passthrough", "faultproxy", "faultproxy+noop"):
            r = row[target]
            lines.append(
                f"| {shape} | {target} | {r.requests_per_s:,.0f} | {r.latency_avg_ms:.2f} | "
                f"{r.latency_p99_ms:.2f} | {r.errors} | "
                f"{r.requests_per_s / row['direct'].requests_per_s:.2f} | "
                f"{r.requests_per_s / row['passthrough'].requests_per_s:.2f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point (median kept)")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument("--serve-passthrough", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_passthrough:
        serve_passthrough(*args.serve_passthrough)
        return 0
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    sys.path.insert(0, str(ROOT))
    results, upstream_name, generator = benchmark(args.duration, args.repeat)
    print(report(results, upstream_name, generator))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
