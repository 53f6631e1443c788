"""Benchmark of brownout's load driver, against plain Locust on the same endpoint, same run.

(a) Closed model: brownout's locustfile (request ids, validators, a record per request) against
    a plain ``FastHttpUser`` locustfile, one Locust process each, the same users, alternating
    rounds; prints requests/s of each and the ratio (goal: >= 0.9).
(b) Open model: for a ladder of rates, the achieved rate and the schedule-lag p99 of one process
    and of ``--workers 2`` (a master and two workers); prints the highest rate held with lag
    p99 <= 10 ms and the rate within 2 % of the target.

The endpoint is a minimal asyncio HTTP/1.1 responder in its own process (keep-alive, fixed
200 JSON answer), so the load generator, not the server, is what is measured.

    python benchmarks/bench_load.py --duration 8 --rounds 3 --rates 100,200,400,800
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.load import (  # noqa: E402
    LoadConfig,
    build_locust_command,
    build_locust_env,
    build_worker_command,
)

SERVER = textwrap.dedent(
    """
    import asyncio, sys
    BODY = b'{"answer": "ok"}'
    RESPONSE = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: "
                + str(len(BODY)).encode() + b"\\r\\n\\r\\n" + BODY)
    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
        def data_received(self, data):
            self.buffer += data
            while True:
                head, sep, rest = self.buffer.partition(b"\\r\\n\\r\\n")
                if not sep:
                    return
                length = 0
                for line in head.split(b"\\r\\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    return
                self.buffer = rest[length:]
                self.transport.write(RESPONSE)
    async def main():
        server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()
    asyncio.run(main())
    """
)

PLAIN = textwrap.dedent(
    """
    import json, os
    import gevent
    from locust import FastHttpUser, constant, events, task

    @events.init.add_listener
    def fresh_clock(**_kw):
        # The same fix as brownout's locustfile: without it, a slow import makes --run-time
        # fire early on a busy machine.
        gevent.get_hub().loop.update_now()

    @events.quitting.add_listener
    def report(environment, **_kw):
        total = environment.runner.stats.total
        with open(os.environ["PLAIN_RESULT"], "w") as handle:
            json.dump({"requests": total.num_requests, "start": total.start_time,
                       "last": total.last_request_timestamp}, handle)

    class Plain(FastHttpUser):
        wait_time = constant(0)
        @task
        def ask(self):
            self.client.post("/ask", json={"question": "what is backoff?"})
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def plain_rps(work: Path, host: str, users: int, duration: int) -> float:
    locustfile = work / "plain_locustfile.py"
    locustfile.write_text(PLAIN, encoding="utf-8")
    result = work / f"plain-{time.monotonic_ns()}.json"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{duration}s", "--host", host,
         "--only-summary", "--loglevel", "WARNING"],
        check=True, capture_output=True, timeout=duration + 120,
        env={**os.environ, "PLAIN_RESULT": str(result)},
    )  # fmt: skip
    stats = json.loads(result.read_text(encoding="utf-8"))
    return float(stats["requests"] / (stats["last"] - stats["start"]))


def brownout_closed_rps(work: Path, host: str, users: int, duration: int) -> float:
    requests = work / f"closed-{time.monotonic_ns()}" / "requests.jsonl"
    config = LoadConfig.from_dict(
        {"host": host, "users": users, "spawn_rate": users, "run_time_s": duration,
         "requests_file": str(requests), "stop_timeout_s": 1,
         "request": {"path": "/ask", "json": {"question": "what is backoff?"}},
         "validators": [{"type": "json_field", "field": "answer"}]}
    )  # fmt: skip
    run(work, config)
    starts = [json.loads(line)["t_start"] for line in requests.open(encoding="utf-8")]
    # Locust's own figure counts from its start; count over the same span from the first request.
    return float(len(starts) / (max(starts) - min(starts)))


def run(work: Path, config: LoadConfig) -> None:
    path = work / f"config-{time.monotonic_ns()}.json"
    config.write(path)
    env = build_locust_env(path)
    if config.workers == 1:
        subprocess.run(build_locust_command(path, config), env=env, check=True,
                       capture_output=True, timeout=config.run_time_s + 120)  # fmt: skip
        return
    port = free_port()
    master = subprocess.Popen(build_locust_command(path, config, master_port=port), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    workers = [subprocess.Popen(build_worker_command("127.0.0.1", port), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(config.workers)]  # fmt: skip
    master.wait(config.run_time_s + 120)
    for worker in workers:
        worker.wait(30)


def open_run(
    work: Path, host: str, rate: float, duration: int, workers: int, *, trace: bool = False
) -> tuple[float, float]:
    """(achieved rate, schedule-lag p99 ms) over the run after its first second; with
    ``trace``, also print each worker's worst lag per half second (stalls vs steady lag)."""
    out = work / f"open-{workers}-{rate:g}-{time.monotonic_ns()}"
    config = LoadConfig.from_dict(
        {"host": host, "model": "open", "rate": rate, "arrivals": "constant",
         "run_time_s": duration, "requests_file": str(out / "requests.jsonl"),
         "stop_timeout_s": 1, "workers": workers,
         "request": {"path": "/ask", "json": {"question": "what is backoff?"}}}
    )  # fmt: skip
    out.mkdir(parents=True)
    run(work, config)
    rows = [json.loads(line) for p in out.glob("requests*.jsonl") for line in p.open()]
    t0 = min(r["t_start"] for r in rows)
    for path in sorted(out.glob("requests*.jsonl")) if trace else ():
        worst: dict[float, float] = {}
        for line in path.open():
            row = json.loads(line)
            at = int((row["t_start"] - t0) * 2) / 2
            worst[at] = max(worst.get(at, 0.0), row["schedule_lag_ms"])
        print(
            f"{path.name}  " + "  ".join(f"{at:g}:{lag:.0f}" for at, lag in sorted(worst.items()))
        )
    window = [r for r in rows if t0 + 1.0 <= r["t_start"] < t0 + duration - 1.0]
    lags = sorted(r["schedule_lag_ms"] for r in window)
    p99 = lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)]
    return len(window) / (duration - 2.0), p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rates", default="100,200,400,800")
    parser.add_argument(
        "--lag-trace",
        type=float,
        default=None,
        metavar="RATE",
        help="only: one two-worker open run at RATE, worst lag per half second",
    )
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    host = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if args.lag_trace is not None:
                achieved, p99 = open_run(work, host, args.lag_trace, args.duration, 2, trace=True)
                print(f"achieved {achieved:.1f}/s  lag p99 {p99:.2f} ms")
                return
            plain, ours = [], []
            for _ in range(args.rounds):
                plain.append(plain_rps(work, host, args.users, args.duration))
                ours.append(brownout_closed_rps(work, host, args.users, args.duration))
            plain.sort()
            ours.sort()
            p, o = plain[len(plain) // 2], ours[len(ours) // 2]
            print(f"(a) closed, {args.users} users, median of {args.rounds} rounds:")
            print(f"    plain FastHttpUser {p:8.0f} req/s   brownout {o:8.0f} req/s   "
                  f"ratio {o / p:.2f}  (rounds: plain {plain}, brownout {ours})")  # fmt: skip
            for workers in (1, 2):
                best = None
                print(f"(b) open model, workers={workers}:")
                for rate in (float(r) for r in args.rates.split(",")):
                    achieved, p99 = open_run(work, host, rate, args.duration, workers)
                    held = p99 <= 10.0 and abs(achieved - rate) <= 0.02 * rate
                    print(f"    rate {rate:6.0f}/s  achieved {achieved:7.1f}/s  "
                          f"lag p99 {p99:7.2f} ms  {'held' if held else 'NOT held'}")  # fmt: skip
                    if held:
                        best = rate
                print(f"    highest rate held: {best}")
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    main()
