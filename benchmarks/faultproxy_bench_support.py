"""Shared parts of the fault proxy benchmark: child processes pinned to CPUs, the upstream,
the load generators and the round-trip timer.

Split out of ``bench_faultproxy.py`` so that file reads as the experiment (what is compared,
in which order) and this one as the instruments.
"""

from __future__ import annotations

import asyncio
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
from contextlib import contextmanager
from pathlib import Path

BODY = b'{"ok":true,"text":"hello from upstream"}'
ROOT = Path(__file__).resolve().parent.parent
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """``argv`` run on one CPU (``taskset -c``) when asked and possible."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) <= cpu:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


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
def child(
    args: list[str], cpu: int | None = None, *, read_stdout: bool = False, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[str]]:
    """A child process, stopped with SIGTERM (then killed) on exit. Its stdout is a pipe only
    when the caller reads it: an unread pipe fills with a server's logs and blocks it.

    Each child runs in a session of its own: with the kernel's autogroup scheduling (the
    Linux default) a session is one scheduling group, so on a shared machine each server gets
    one group's share of its core, whether it runs one thread (the embedded proxy) or many
    (Go's runtime). In one group with the rest of the benchmark, a server's share grew with
    its number of runnable threads, which measured the scheduler rather than the server.
    """
    stdout = subprocess.PIPE if read_stdout else subprocess.DEVNULL
    process = subprocess.Popen(
        pinned(args, cpu),
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        start_new_session=True,
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
def upstream(cpu: int | None = None) -> Iterator[tuple[int, str]]:
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
            with child([nginx, "-p", prefix, "-c", str(conf), "-g", "daemon off;"], cpu):
                wait_port(port)
                yield port, "nginx (1 worker)"
        return
    with child([sys.executable, __file__, "--serve-upstream", str(port)], cpu):
        wait_port(port)
        yield port, "uvloop HTTP responder"


def _run(coro_factory: object) -> None:
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(coro_factory())  # type: ignore[operator]


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


# -- server CPU accounting --------------------------------------------------------------


class ServerClock:
    """CPU time a server process used, and how long its threads waited for a CPU.

    On a shared machine a server's throughput is capped by the share of its core the scheduler
    gives it, which differs between a single-threaded event loop and Go's pool of threads;
    CPU time per request is the cost that share is spent at, and holds on a quiet machine
    too. The wait is the kernel's run-queue delay (``/proc/PID/task/*/schedstat``, Linux),
    summed over the threads: the part of the wall time the server was ready but not running.
    """

    def __init__(self, pid: int) -> None:
        import psutil

        self._process = psutil.Process(pid)
        self.pid = pid

    def cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def run_queue_seconds(self) -> float | None:
        total = 0
        try:
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{task}/schedstat") as handle:
                    total += int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            return None
        return total / 1e9


# -- load generation --------------------------------------------------------------------


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:  # wrk prints "-nan" or similar when it has no sample
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3.6e6}[unit]


def run_wrk(
    port: int, connections: int, close: bool, duration: int, cpu: int | None = None
) -> tuple[float, float, float, int]:
    args = pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"], cpu)
    if close:
        args += ["-H", "Connection: close"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}/"],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,  # its own scheduling group, as the servers (see child())
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
    port: int, connections: int, close: bool, duration: int, cpu: int | None = None
) -> tuple[float, float, float, int]:
    """The fallback generator, run in a child pinned to ``cpu`` like wrk would be."""
    argv = [sys.executable, __file__, "--python-load", str(port), str(connections)]
    argv += [str(int(close)), str(duration)]
    out = subprocess.run(pinned(argv, cpu), capture_output=True, text=True, check=True).stdout
    rps, avg, p99, errors = out.split()
    return float(rps), float(avg), float(p99), int(errors)


# -- round trips ----------------------------------------------------------------------------


def response_length(port: int) -> int:
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


class RoundTripTimer:
    """Sequential request/response round trips on one keep-alive connection, timed one by one.

    On Linux a response's arrival is the kernel's receive timestamp of its last segment, so
    the time this client thread takes to wake up (or to get the GIL) is not counted: what is
    measured is when the proxy wrote the response.
    """

    def __init__(self, port: int, size: int) -> None:
        self.size = size
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _KERNEL_STAMPS:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)

    def __enter__(self) -> RoundTripTimer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def once(self) -> float:
        """One round trip (seconds), from just before the request to the response's end."""
        sock = self.sock
        start_ns = time.time_ns()
        sock.sendall(REQUEST)
        got = 0
        arrived_ns = 0
        while got < self.size:
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
        return ((arrived_ns or time.time_ns()) - start_ns) / 1e9


def one_round_trip(port: int, size: int) -> float:
    """One round trip on a new connection (timed from the request, once connected)."""
    with RoundTripTimer(port, size) as timer:
        return timer.once()


def round_trips(
    port: int, count: int, size: int, pause: float, *, new_connections: bool = False
) -> list[float]:
    """``count`` sequential request/response times (seconds): on one keep-alive connection, or
    each on a new connection (see :class:`RoundTripTimer`)."""
    if new_connections:
        return [_one_then_pause(port, size, pause) for _ in range(count)]
    times: list[float] = []
    with RoundTripTimer(port, size) as timer:
        for _ in range(count):
            times.append(timer.once())
            if pause:
                time.sleep(pause)
    return times


def _one_then_pause(port: int, size: int, pause: float) -> float:
    rtt = one_round_trip(port, size)
    time.sleep(pause)
    return rtt


def concurrent_round_trips(
    port: int, connections: int, count: int, size: int, pause: float
) -> list[float]:
    results: list[list[float]] = [[] for _ in range(connections)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            results[index] = round_trips(port, count, size, pause)
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> int:
    """Child-process entry points: the fallback upstream and the fallback load generator."""
    if sys.argv[1] == "--serve-upstream":
        serve_upstream(int(sys.argv[2]))
    elif sys.argv[1] == "--python-load":
        port, connections, close, duration = (int(a) for a in sys.argv[2:6])
        rps, avg, p99, errors = asyncio.run(_python_load(port, connections, bool(close), duration))
        print(rps, avg, p99, errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
