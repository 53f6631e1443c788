"""Benchmark: small HTTP requests through the embedded fault proxy on loopback.

Compares four paths to the same upstream, measured in one run so the ratios hold on any
machine:

* direct      — the load generator talks to the upstream itself;
* passthrough — the stand-in for the "minimal uvloop pass-through proxy" the performance
                goals are stated against: ``serve_passthrough`` below, asyncio streams on uvloop
                (``start_server``/``open_connection``, then per direction a
                ``read(32768)`` / ``write`` / ``drain`` loop);
* faultproxy  — ``python -m harness.faultproxy`` with one proxy and no toxics;
* faultproxy+noop — the same process, a proxy with a ``noop`` toxic in each direction: the
                cost of the toxic-stage machinery itself.

Then the accuracy of a ``latency`` toxic: a proxy of the same process with a 100 ms
downstream ``latency`` (jitter 0) and many small request/response round trips through it
(sequential, then several connections at once); each round trip's time minus 100 ms is the
delay the proxy added on top of the toxic. The goal is p99 within 2 ms.

Load shapes: keep-alive with 8 and 64 connections, and one connection per request
(``Connection: close``). The upstream is nginx when installed (so it is not the bottleneck),
else a small uvloop HTTP responder. The load generator is ``wrk`` when installed, else a
Python asyncio generator (slower: its numbers are only comparable within one run).

    python benchmarks/bench_faultproxy.py [--duration 3] [--repeat 3] [--json results.json]
                                          [--accuracy-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
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


LATENCY_MS = 100


@contextmanager
def faultproxy(upstream_port: int) -> Iterator[tuple[int, int, int]]:
    """One fault proxy process; ports of a proxy without toxics, of one with a ``noop``
    toxic in each direction (so every chunk goes through the toxic-stage machinery) and of one
    with a ``LATENCY_MS`` downstream ``latency`` toxic."""
    args = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
    with child(args) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("BROWNOUT_READY "):
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        url = line.split()[1]
        ports = []
        for name in ("bench", "bench-noop", "bench-latency"):
            body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
            listen = httpx.post(url + "/proxies", json=body, timeout=10).json()["listen"]
            ports.append(int(listen.rsplit(":", 1)[1]))
        for stream in ("upstream", "downstream"):
            toxic = {"type": "noop", "stream": stream}
            httpx.post(
                url + "/proxies/bench-noop/toxics", json=toxic, timeout=10
            ).raise_for_status()
        latency = {"type": "latency", "stream": "downstream", "attributes": {"latency": LATENCY_MS}}
        httpx.post(
            url + "/proxies/bench-latency/toxics", json=latency, timeout=10
        ).raise_for_status()
        yield ports[0], ports[1], ports[2]


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


# -- latency-toxic accuracy ------------------------------------------------------------------


@dataclass
class Accuracy:
    shape: str
    round_trips: int
    direct_p50_ms: float
    direct_p99_ms: float
    """Round trips straight to the upstream, paced like the toxic's (idle ``LATENCY_MS``
    between them): the machine's own tail for a request after an idle spell."""
    baseline_p50_ms: float
    baseline_p99_ms: float
    """Round trips through the same proxy process without a toxic, paced like the toxic's
    (idle ``LATENCY_MS`` between them), for context: the part of the tail that is the
    machine's waking up, not the toxic's."""
    added_p50_ms: float
    added_p99_ms: float
    added_max_ms: float
    added_min_ms: float
    """Round-trip time minus the toxic's latency, in ms."""

    @property
    def within_goal(self) -> bool:
        return self.added_p99_ms <= 2.0 and self.added_min_ms >= -2.0


REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def _response_length(port: int) -> int:
    """Bytes of one upstream response (it is always the same one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(REQUEST)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, _rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
        return len(head) + 4 + length


#: Linux ``SO_TIMESTAMPNS`` (also the ``SCM_`` type of its control message); Python 3.11 does
#: not export it. The kernel stamps each received segment on CLOCK_REALTIME.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_KERNEL_STAMPS = sys.platform == "linux"


def _round_trips(port: int, count: int, size: int, pause: float) -> list[float]:
    """``count`` sequential keep-alive request/response times (seconds) on one connection.

    On Linux a response's arrival is the kernel's receive timestamp of its last segment, so
    the time this client thread takes to wake up (or to get the GIL) is not counted: what is
    measured is when the proxy wrote the response.
    """
    times: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _KERNEL_STAMPS:
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        for _ in range(count):
            start_ns = time.time_ns()
            sock.sendall(REQUEST)
            got = 0
            arrived_ns = 0
            while got < size:
                if _KERNEL_STAMPS:
                    chunk, ancillary, _flags, _addr = sock.recvmsg(65536, 64)
                    for level, kind, data in ancillary:
                        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                            seconds, nanos = struct.unpack("qq", data[:16])
                            arrived_ns = seconds * 1_000_000_000 + nanos
                else:
                    chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed mid-response")
                got += len(chunk)
            times.append(((arrived_ns or time.time_ns()) - start_ns) / 1e9)
            if pause:
                time.sleep(pause)
    return times


def _concurrent_round_trips(
    port: int, connections: int, count: int, size: int, pause: float
) -> list[float]:
    results: list[list[float]] = [[] for _ in range(connections)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = _round_trips(port, count, size, pause)
        except BaseException as err:  # reported below, after the join
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise RuntimeError(f"round trips failed: {errors[0]!r}")
    return [t for times in results for t in times]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


#: (shape, connections, round trips per connection, pause between round trips in s). The
#: pause staggers the connections so their chunks do not all fall due at the same instant.
ACCURACY_SHAPES = [
    ("sequential x1", 1, 200, 0.0),
    ("concurrent x8", 8, 60, 0.003),
    ("concurrent x32", 32, 20, 0.003),
]


def latency_accuracy(
    direct_port: int, plain_port: int, latency_port: int, size: int
) -> list[Accuracy]:
    results = []
    for shape, connections, count, pause in ACCURACY_SHAPES:
        _concurrent_round_trips(latency_port, connections, 2, size, 0.0)  # warm-up
        # The baselines idle as long between round trips as the toxic makes each one last,
        # so they see the same wake-up delays of an idle machine (CPU, VM and scheduler),
        # which a back-to-back loop would not.
        paced = pause + LATENCY_MS / 1000
        direct = _concurrent_round_trips(direct_port, connections, count, size, paced)
        baseline = _concurrent_round_trips(plain_port, connections, count, size, paced)
        times = _concurrent_round_trips(latency_port, connections, count, size, pause)
        added = [t * 1000 - LATENCY_MS for t in times]
        results.append(
            Accuracy(
                shape,
                len(times),
                _percentile(direct, 0.5) * 1000,
                _percentile(direct, 0.99) * 1000,
                _percentile(baseline, 0.5) * 1000,
                _percentile(baseline, 0.99) * 1000,
                _percentile(added, 0.5),
                _percentile(added, 0.99),
                max(added),
                min(added),
            )
        )
    return results


# -- the run ---------------------------------------------------------------------------------


def benchmark(
    duration: int, repeat: int, *, throughput: bool = True
) -> tuple[list[Result], list[Accuracy], str, str]:
    load = run_wrk if shutil.which("wrk") else run_python
    generator = "wrk 1 thread" if shutil.which("wrk") else "python asyncio load generator"
    results: list[Result] = []
    with ExitStack() as stack:
        up_port, upstream_name = stack.enter_context(upstream())
        plain, noop, latency = stack.enter_context(faultproxy(up_port))
        targets = {
            "direct": up_port,
            "passthrough": stack.enter_context(passthrough(up_port)),
            "faultproxy": plain,
            "faultproxy+noop": noop,
        }
        for shape, connections, close in SHAPES if throughput else []:
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
                middle = target_runs[len(target_runs) // 2]
                p99s = sorted(
                    r.latency_p99_ms for r in target_runs if not math.isnan(r.latency_p99_ms)
                )
                if math.isnan(middle.latency_p99_ms) and p99s:
                    # wrk occasionally prints no usable percentile: use the other runs'.
                    middle.latency_p99_ms = p99s[len(p99s) // 2]
                results.append(middle)
        accuracy = latency_accuracy(up_port, plain, latency, _response_length(up_port))
    return results, accuracy, upstream_name, generator


def report(
    results: list[Result], accuracy: list[Accuracy], upstream_name: str, generator: str
) -> str:
    lines = [
        f"upstream: {upstream_name}; load: {generator}; host: {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}; median of the repeats",
    ]
    if results:
        lines += [
            "",
            "| shape | target | req/s | avg ms | p99 ms | p99 added ms | errors | vs direct "
            "| vs passthrough |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for shape, _c, _close in SHAPES if results else []:
        row = {r.target: r for r in results if r.shape == shape}
        for target in ("direct", "passthrough", "faultproxy", "faultproxy+noop"):
            r = row[target]
            # p99 added latency: this target's p99 minus the direct p99 of the same shape.
            added = r.latency_p99_ms - row["direct"].latency_p99_ms
            lines.append(
                f"| {shape} | {target} | {r.requests_per_s:,.0f} | {r.latency_avg_ms:.2f} | "
                f"{r.latency_p99_ms:.2f} | {'-' if target == 'direct' else f'{added:.2f}'} | "
                f"{r.errors} | "
                f"{r.requests_per_s / row['direct'].requests_per_s:.2f} | "
                f"{r.requests_per_s / row['passthrough'].requests_per_s:.2f} |"
            )
    lines += [
        "",
        f"latency toxic {LATENCY_MS} ms downstream, jitter 0: added = round trip through it "
        f"minus {LATENCY_MS} ms; paced = round trips without the toxic, {LATENCY_MS} ms apart, "
        "straight to the upstream (direct) and through the fault proxy",
        "",
        "| shape | round trips | paced direct p50 / p99 ms | paced faultproxy p50 / p99 ms "
        "| added p50 ms | added p99 ms | added max ms | added min ms | p99 within 2 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for a in accuracy:
        lines.append(
            f"| {a.shape} | {a.round_trips} | {a.direct_p50_ms:.2f} / {a.direct_p99_ms:.2f} | "
            f"{a.baseline_p50_ms:.2f} / {a.baseline_p99_ms:.2f} | {a.added_p50_ms:.2f} | "
            f"{a.added_p99_ms:.2f} | {a.added_max_ms:.2f} | {a.added_min_ms:.2f} | "
            f"{'yes' if a.within_goal else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point (median kept)")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument(
        "--accuracy-only", action="store_true", help="only the latency-toxic accuracy part"
    )
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
    results, accuracy, upstream_name, generator = benchmark(
        args.duration, args.repeat, throughput=not args.accuracy_only
    )
    print(report(results, accuracy, upstream_name, generator))
    if args.json:
        raw = {
            "throughput": [asdict(r) for r in results],
            "latency_accuracy": [asdict(a) for a in accuracy],
        }
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
