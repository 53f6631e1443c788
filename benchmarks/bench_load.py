"""Benchmark of brownout's load driver, against plain Locust on the same endpoint, same run.

(a) Closed model: brownout's locustfile (request ids, validators, a record per request) against
    a plain ``FastHttpUser`` locustfile, one Locust process each, the same users, alternating
    rounds; prints requests/s of each and the ratio (goal: >= 0.9), and the Locust process's
    CPU time per request over the steady part of each run (start-up excluded), the figure that
    a busy machine disturbs least: requests/s falls when other processes take the core, CPU
    per request hardly moves.
(b) Open model: for a ladder of rates, the achieved rate and the schedule-lag p99 of one process
    and of ``--workers 2`` (a master and two workers); prints the highest rate held with lag
    p99 <= 10 ms and the rate within 2 % of the target.

The endpoint is a minimal asyncio HTTP/1.1 responder in its own process (keep-alive, fixed
200 JSON answer), so the load generator, not the server, is what is measured.

    python benchmarks/bench_load.py --duration 8 --rounds 3 --rates 100,200,400,800
    python benchmarks/bench_load.py --only a --duration 6 --rounds 3
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
import threading
import time
from pathlib import Path

import psutil

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
                       "last": total.last_request_timestamp,
                       "per_second": total.num_reqs_per_sec}, handle)

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


class CpuSampler:
    """The CPU seconds (user + system) of a process, sampled every 50 ms from outside, so the
    CPU spent over any stretch of the run can be read off (start-up and shutdown excluded)."""

    def __init__(self, pid: int) -> None:
        self.samples: list[tuple[float, float]] = []
        self._process = psutil.Process(pid)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                times = self._process.cpu_times()
            except psutil.Error:
                return
            self.samples.append((time.time(), times.user + times.system))
            time.sleep(0.05)

    def join(self) -> None:
        self._thread.join(5)

    def at(self, t: float) -> float:
        """CPU seconds used by wall time ``t`` (linear between the samples around it)."""
        before = max((s for s in self.samples if s[0] <= t), default=self.samples[0])
        after = min((s for s in self.samples if s[0] >= t), default=self.samples[-1])
        if after[0] == before[0]:
            return before[1]
        return before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0])


def measured(command: list[str], env: dict[str, str], timeout: float) -> CpuSampler:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    sampler = CpuSampler(process.pid)
    _, err = process.communicate(timeout=timeout)
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {process.returncode}: {err[-2000:]!r}")
    return sampler


def steady(sampler: CpuSampler, starts: list[float]) -> tuple[float, float]:
    """(requests/s, CPU ms per request) over the run from 1 s after its first request to
    0.5 s before its last: the steady state, without start-up or the stop."""
    first, last = min(starts), max(starts)
    lo, hi = first + 1.0, last - 0.5
    count = sum(1 for t in starts if lo <= t < hi)
    return count / (hi - lo), (sampler.at(hi) - sampler.at(lo)) * 1000.0 / count


def plain_run(work: Path, host: str, users: int, duration: int) -> tuple[float, float]:
    locustfile = work / "plain_locustfile.py"
    locustfile.write_text(PLAIN, encoding="utf-8")
    result = work / f"plain-{time.monotonic_ns()}.json"
    sampler = measured(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users),
         "-r", str(users), "-t", f"{duration}s", "--host", host,
         "--only-summary", "--loglevel", "WARNING"],
        {**os.environ, "PLAIN_RESULT": str(result)}, duration + 120,
    )  # fmt: skip
    stats = json.loads(result.read_text(encoding="utf-8"))
    # Locust counts requests per whole second; spread each second's count over that second.
    starts = [
        int(second) + (i + 0.5) / count
        for second, count in stats["per_second"].items()
        for i in range(count)
    ]
    return steady(sampler, starts)


def brownout_closed_run(work: Path, host: str, users: int, duration: int) -> tuple[float, float]:
    requests = work / f"closed-{time.monotonic_ns()}" / "requests.jsonl"
    config = LoadConfig.from_dict(
        {"host": host, "users": users, "spawn_rate": users, "run_time_s": duration,
         "requests_file": str(requests), "stop_timeout_s": 1,
         "request": {"path": "/ask", "json": {"question": "what is backoff?"}},
         "validators": [{"type": "json_field", "field": "answer"}]}
    )  # fmt: skip
    path = work / f"config-{time.monotonic_ns()}.json"
    config.write(path)
    sampler = measured(build_locust_command(path, config), build_locust_env(path), duration + 120)
    starts = [json.loads(line)["t_start"] for line in requests.open(encoding="utf-8")]
    return steady(sampler, starts)


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
    """(achieved rate, schedule-lag p99 ms) over the run but its first and last second; with
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
    # The rate is counted at the instants requests were actually sent (due + lag), not when
    # they were due: a generator that falls behind sends fewer per second than scheduled.
    sent = [r["t_start"] + r["schedule_lag_ms"] / 1000.0 for r in rows]
    # The window ends a second before the run or half a second before the last arrival sent,
    # whichever is first: with workers the schedule starts a second after Locust's clock (the
    # origin's lead), and no arrival is sent once the test is stopping.
    lo, hi = t0 + 1.0, min(t0 + duration - 1.0, max(sent) - 0.5)
    achieved = sum(1 for t in sent if lo <= t < hi) / (hi - lo)
    window = [r for r in rows if lo <= r["t_start"] < hi]
    lags = sorted(r["schedule_lag_ms"] for r in window)
    p99 = lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)]
    return achieved, p99


def bench_a(work: Path, host: str, users: int, duration: int, rounds: int) -> None:
    plain, ours = [], []
    for _ in range(rounds):  # interleaved, so both sides see the same machine
        plain.append(plain_run(work, host, users, duration))
        ours.append(brownout_closed_run(work, host, users, duration))

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    p_rps, o_rps = median([r for r, _ in plain]), median([r for r, _ in ours])
    p_cpu, o_cpu = median([c for _, c in plain]), median([c for _, c in ours])
    print(
        f"(a) closed, {users} users, median of {rounds} rounds (load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}):"
    )
    print(f"    plain FastHttpUser {p_rps:8.0f} req/s  {p_cpu * 1000:6.0f} us CPU/req")
    print(f"    brownout           {o_rps:8.0f} req/s  {o_cpu * 1000:6.0f} us CPU/req")
    print(f"    ratio req/s {o_rps / p_rps:.2f}   ratio CPU/req plain/brownout {p_cpu / o_cpu:.2f}")
    for label, results in (("plain", plain), ("brownout", ours)):
        rounds_text = "  ".join(f"{r:.0f}/s {c * 1000:.0f}us" for r, c in results)
        print(f"    rounds {label}: {rounds_text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--rates", default="100,200,400,800")
    parser.add_argument("--only", choices=("a", "b"), default=None, help="run one part only")
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
            if args.only in (None, "a"):
                bench_a(work, host, args.users, args.duration, args.rounds)
            if args.only == "a":
                return
            for workers in (1, 2):
                held_rates, missed = [], []
                print(f"(b) open model, workers={workers}:")
                for rate in (float(r) for r in args.rates.split(",")):
                    achieved, p99 = open_run(work, host, rate, args.duration, workers)
                    held = p99 <= 10.0 and abs(achieved - rate) <= 0.02 * rate
                    print(f"    rate {rate:6.0f}/s  achieved {achieved:7.1f}/s  "
                          f"lag p99 {p99:7.2f} ms  {'held' if held else 'NOT held'}")  # fmt: skip
                    (held_rates if held else missed).append(rate)
                # Both, since one stall can miss a rate below one that is held.
                below = [r for r in held_rates if all(m > r for m in missed)]
                print(f"    highest rate held: {max(held_rates, default=None)}; every rate held "
                      f"up to: {max(below, default=None)}")  # fmt: skip
    finally:
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    main()
