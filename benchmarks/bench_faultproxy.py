"""Benchmark: the embedded fault proxy against the real Toxiproxy, side by side in one run.

Both servers run at once, each pinned to CPU 0 (``taskset``); the load generator (``wrk``, or
a Python asyncio generator when wrk is missing) and the upstream (nginx, or a small uvloop
responder) run on CPU 1. Every measurement is interleaved: each round goes through every
shape, toxic and target in turn (the targets in reverse order every other round), so a slow
spell of the shared machine hits both servers alike; the median over the rounds is reported.

* targets — ``embedded`` (``python -m harness.faultproxy``), ``toxiproxy`` (the real
  ``toxiproxy-server`` given by ``--toxiproxy`` or ``$TOXIPROXY_SERVER``), and ``direct`` (the
  upstream itself, the reference for "p99 added");
* toxics — none, and a 0 ms ``latency`` toxic downstream (the toxic path: what runs while a
  fault is active);
* shapes — keep-alive with 8 and 64 connections, and one connection per request;
* accuracy — a 100 ms downstream ``latency`` toxic (jitter 0): request/response round trips
  on one keep-alive connection and on a new connection each, timed by the kernel's receive
  stamps, each server's round trip paired with the other's; "error" is the round trip minus
  100 ms.

    python benchmarks/bench_faultproxy.py --toxiproxy PATH [--duration 5] [--rounds 3]
                                          [--json results.json] [--baseline CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from faultproxy_bench_support import (
    ROOT,
    RoundTripTimer,
    ServerClock,
    child,
    free_port,
    one_round_trip,
    percentile,
    pinned,
    response_length,
    round_trips,
    run_python,
    run_wrk,
    upstream,
    wait_port,
)

LoadFunction = Callable[[int, int, bool, int, int | None], tuple[float, float, float, int]]

SERVER_CPU = 0
LOAD_CPU = 1
LATENCY_MS = 100
SHAPES = [("keep-alive x8", 8, False), ("keep-alive x64", 64, False), ("conn/request x8", 8, True)]
TOXICS = ["none", "latency 0 ms"]


@dataclass
class Result:
    target: str
    shape: str
    toxic: str
    requests_per_s: float
    latency_avg_ms: float
    latency_p99_ms: float
    errors: int
    cpu_us_per_request: float | None = None
    """The server's CPU time (all threads, user + system) per request answered."""
    run_queue_share: float | None = None
    """Run-queue wait of the server's threads over the wall time of the measurement."""


@dataclass
class Accuracy:
    target: str
    shape: str
    round_trips: int
    error_p50_ms: float
    error_p99_ms: float
    error_max_ms: float
    error_min_ms: float


@dataclass
class Server:
    """One Toxiproxy-API server with a proxy per toxic setting: their listen ports."""

    name: str
    ports: dict[str, int]
    pid: int


def _setup_proxies(url: str, upstream_port: int) -> dict[str, int]:
    """Proxies ``none``, ``latency 0 ms`` and ``latency 100 ms``, each on an explicit port."""
    ports: dict[str, int] = {}
    toxics = {"none": None, "latency 0 ms": 0, f"latency {LATENCY_MS} ms": LATENCY_MS}
    with httpx.Client(base_url=url, timeout=10) as api:
        for index, (name, latency) in enumerate(toxics.items()):
            port = free_port()
            proxy = f"bench{index}"
            body = {
                "name": proxy,
                "listen": f"127.0.0.1:{port}",
                "upstream": f"127.0.0.1:{upstream_port}",
            }
            api.post("/proxies", json=body).raise_for_status()
            if latency is not None:
                toxic = {
                    "type": "latency",
                    "stream": "downstream",
                    "attributes": {"latency": latency},
                }
                api.post(f"/proxies/{proxy}/toxics", json=toxic).raise_for_status()
            ports[name] = port
    return ports


@contextmanager
def embedded(
    upstream_port: int, checkout: Path | None = None, name: str = "embedded"
) -> Iterator[Server]:
    """The embedded proxy of this project, or of another ``checkout`` of it (run from its
    directory, so ``-m harness.faultproxy`` imports that checkout's code)."""
    argv = [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
    cwd = checkout.resolve() if checkout is not None else ROOT
    with child(argv, SERVER_CPU, read_stdout=True, cwd=cwd) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("BROWNOUT_READY "):
            raise RuntimeError(f"fault proxy did not start: {line!r}")
        ports = _setup_proxies(line.split()[1], upstream_port)
        yield Server(name, ports, process.pid)


@contextmanager
def toxiproxy(binary: str, upstream_port: int) -> Iterator[Server]:
    port = free_port()
    with child([binary, "-host", "127.0.0.1", "-port", str(port)], SERVER_CPU) as process:
        wait_port(port)
        ports = _setup_proxies(f"http://127.0.0.1:{port}", upstream_port)
        yield Server("toxiproxy", ports, process.pid)


def _median_run(runs: list[Result]) -> Result:
    runs = sorted(runs, key=lambda r: r.requests_per_s)
    middle = runs[len(runs) // 2]
    p99s = sorted(r.latency_p99_ms for r in runs if not math.isnan(r.latency_p99_ms))
    if p99s:  # the p99 reported is the median of the rounds' p99s, not the median run's
        middle.latency_p99_ms = statistics.median(p99s)
    # CPU per request and run-queue share: the median of the rounds' figures, too.
    cpus = [r.cpu_us_per_request for r in runs if r.cpu_us_per_request is not None]
    middle.cpu_us_per_request = statistics.median(cpus) if cpus else None
    waits = [r.run_queue_share for r in runs if r.run_queue_share is not None]
    middle.run_queue_share = statistics.median(waits) if waits else None
    return middle


def _measure(
    load: LoadFunction,
    clock: ServerClock | None,
    port: int,
    connections: int,
    close: bool,
    duration: int,
) -> tuple[float, float, float, int, float | None, float | None]:
    """One load run, with the server's CPU time per request and its run-queue share."""
    if clock is None:
        return (*load(port, connections, close, duration, LOAD_CPU), None, None)
    cpu0, wait0, wall0 = clock.cpu_seconds(), clock.run_queue_seconds(), time.monotonic()
    rps, avg, p99, errors = load(port, connections, close, duration, LOAD_CPU)
    cpu1, wait1, wall1 = clock.cpu_seconds(), clock.run_queue_seconds(), time.monotonic()
    requests = rps * duration
    cpu_us = (cpu1 - cpu0) * 1e6 / requests if requests else None
    share = None if wait0 is None or wait1 is None else (wait1 - wait0) / (wall1 - wall0)
    return rps, avg, p99, errors, cpu_us, share


def throughput(
    servers: list[Server], upstream_port: int, duration: int, rounds: int
) -> list[Result]:
    load: LoadFunction = run_wrk if shutil.which("wrk") else run_python
    clocks = {server.name: ServerClock(server.pid) for server in servers}
    points = [("direct", "none", upstream_port)] + [
        (server.name, toxic, server.ports[toxic]) for toxic in TOXICS for server in servers
    ]
    runs: dict[tuple[str, str, str], list[Result]] = {}
    for _shape, connections, close in SHAPES:
        for _target, _toxic, port in points:
            load(port, connections, close, 1, LOAD_CPU)  # warm-up
    for round_index in range(rounds):
        # Every other round runs the targets in the reverse order, so neither server is
        # always measured first (or right after the direct run) within a shape.
        ordered = points if round_index % 2 == 0 else points[::-1]
        for shape, connections, close in SHAPES:
            for target, toxic, port in ordered:
                clock = clocks.get(target)
                rps, avg, p99, errors, cpu_us, share = _measure(
                    load, clock, port, connections, close, duration
                )
                result = Result(target, shape, toxic, rps, avg, p99, errors, cpu_us, share)
                runs.setdefault((target, shape, toxic), []).append(result)
    return [_median_run(r) for r in runs.values()]


ACCURACY_SHAPES = [("keep-alive x1", False), ("new connection each", True)]


def accuracy(servers: list[Server], upstream_port: int, rounds: int, count: int) -> list[Accuracy]:
    """The 100 ms toxic's error, each server's round trips paired with the other's.

    Round trip *i* goes to every server in turn (the order alternating with *i*), so a slow
    spell of the shared machine, which is what decides a p99 here, falls on both servers
    alike instead of on whichever server's block of round trips it happened to hit.
    """
    size = response_length(upstream_port)
    toxic = f"latency {LATENCY_MS} ms"
    errors: dict[tuple[str, str], list[float]] = {}
    for server in servers:
        round_trips(server.ports[toxic], 3, size, 0.0)  # warm-up
    for _ in range(rounds):
        for shape, new_connections in ACCURACY_SHAPES:
            with ExitStack() as stack:
                timers = {
                    server.name: stack.enter_context(RoundTripTimer(server.ports[toxic], size))
                    for server in servers
                    if not new_connections
                }
                for index in range(count):
                    order = servers if index % 2 == 0 else servers[::-1]
                    for server in order:
                        seconds = (
                            one_round_trip(server.ports[toxic], size)
                            if new_connections
                            else timers[server.name].once()
                        )
                        errors.setdefault((server.name, shape), []).append(
                            seconds * 1000 - LATENCY_MS
                        )
    return [
        Accuracy(
            target,
            shape,
            len(values),
            percentile(values, 0.5),
            percentile(values, 0.99),
            max(values),
            min(values),
        )
        for (target, shape), values in errors.items()
    ]


def report(results: list[Result], accuracies: list[Accuracy], rounds: int, names: list[str]) -> str:
    generator = "wrk 1 thread" if shutil.which("wrk") else "python asyncio load generator"
    pinning = (
        ""
        if pinned(["x"], SERVER_CPU) == ["x"]
        else (f"; servers pinned to CPU {SERVER_CPU}, load and upstream to CPU {LOAD_CPU}")
    )
    lines = [
        f"load: {generator}; host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
        f"{pinning}; median of {rounds} interleaved rounds",
        "",
        "| shape | toxic | target | req/s | avg ms | p99 ms | p99 added ms | errors "
        "| server CPU µs/req | run-queue wait | embedded / toxiproxy req/s "
        "| embedded / toxiproxy req per CPU-s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    by_key = {(r.target, r.shape, r.toxic): r for r in results}
    for shape, _c, _close in SHAPES:
        direct = by_key[("direct", shape, "none")]
        lines.append(
            f"| {shape} | - | direct | {direct.requests_per_s:,.0f} | "
            f"{direct.latency_avg_ms:.2f} | {direct.latency_p99_ms:.2f} | - | {direct.errors} "
            "| - | - | | |"
        )
        for toxic in TOXICS:
            for name in names:
                r = by_key[(name, shape, toxic)]
                added = r.latency_p99_ms - direct.latency_p99_ms
                ratio = per_cpu = ""
                if name == "embedded" and ("toxiproxy", shape, toxic) in by_key:
                    real = by_key[("toxiproxy", shape, toxic)]
                    ratio = f"**{r.requests_per_s / real.requests_per_s:.2f}x**"
                    if r.cpu_us_per_request and real.cpu_us_per_request:
                        per_cpu = f"**{real.cpu_us_per_request / r.cpu_us_per_request:.2f}x**"
                cpu = "-" if r.cpu_us_per_request is None else f"{r.cpu_us_per_request:.1f}"
                wait = "-" if r.run_queue_share is None else f"{r.run_queue_share:.0%}"
                lines.append(
                    f"| {shape} | {toxic} | {name} | {r.requests_per_s:,.0f} | "
                    f"{r.latency_avg_ms:.2f} | {r.latency_p99_ms:.2f} | {added:.2f} | "
                    f"{r.errors} | {cpu} | {wait} | {ratio} | {per_cpu} |"
                )
    lines += [
        "",
        f"latency toxic {LATENCY_MS} ms downstream, jitter 0: error = round trip minus "
        f"{LATENCY_MS} ms (kernel receive timestamps)",
        "",
        "| shape | target | round trips | error p50 ms | error p99 ms | max ms | min ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for a in sorted(accuracies, key=lambda a: (a.shape, a.target)):
        lines.append(
            f"| {a.shape} | {a.target} | {a.round_trips} | {a.error_p50_ms:+.2f} | "
            f"{a.error_p99_ms:+.2f} | {a.error_max_ms:+.2f} | {a.error_min_ms:+.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--toxiproxy",
        default=os.environ.get("TOXIPROXY_SERVER"),
        help="the real toxiproxy-server binary (default: $TOXIPROXY_SERVER); "
        "without it only the embedded proxy is measured",
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument(
        "--accuracy-count", type=int, default=100, help="round trips per shape, target and round"
    )
    parser.add_argument("--accuracy-only", action="store_true", help="skip the throughput part")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of this project (e.g. `git worktree add DIR COMMIT`): its "
        "embedded proxy is measured too, as target `baseline`, for before/after comparisons",
    )
    args = parser.parse_args()
    if args.toxiproxy and not os.access(args.toxiproxy, os.X_OK):
        parser.error(f"--toxiproxy {args.toxiproxy}: not an executable file")
    load_before = os.getloadavg()
    with ExitStack() as stack:
        up_port, upstream_name = stack.enter_context(upstream(LOAD_CPU))
        servers = [stack.enter_context(embedded(up_port))]
        if args.baseline:
            servers.append(stack.enter_context(embedded(up_port, args.baseline, "baseline")))
        if args.toxiproxy:
            servers.append(stack.enter_context(toxiproxy(args.toxiproxy, up_port)))
        else:
            print("no --toxiproxy given: measuring the embedded proxy only", file=sys.stderr)
        results = (
            [] if args.accuracy_only else throughput(servers, up_port, args.duration, args.rounds)
        )
        accuracies = accuracy(servers, up_port, args.rounds, args.accuracy_count)
    load_after = os.getloadavg()
    names = [server.name for server in servers]
    print(
        "load average (1, 5, 15 min): "
        f"{' '.join(f'{x:.2f}' for x in load_before)} at start, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} at end"
    )
    print(f"upstream: {upstream_name}")
    if results:
        print(report(results, accuracies, args.rounds, names))
    else:
        print(report_accuracy_only(accuracies))
    if args.json:
        raw = {
            "throughput": [asdict(r) for r in results],
            "latency_accuracy": [asdict(a) for a in accuracies],
        }
        args.json.write_text(json.dumps(raw, indent=2))
    return 0


def report_accuracy_only(accuracies: list[Accuracy]) -> str:
    lines = ["| shape | target | round trips | error p50 ms | error p99 ms | max ms | min ms |"]
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for a in sorted(accuracies, key=lambda a: (a.shape, a.target)):
        lines.append(
            f"| {a.shape} | {a.target} | {a.round_trips} | {a.error_p50_ms:+.2f} | "
            f"{a.error_p99_ms:+.2f} | {a.error_max_ms:+.2f} | {a.error_min_ms:+.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
