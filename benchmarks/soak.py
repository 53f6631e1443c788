"""Soak: hours of load through the embedded fault proxy and a mock provider, watching memory.

Starts ``python -m mock_providers openai`` and ``python -m harness.faultproxy`` on 127.0.0.1,
creates a proxy in front of the mock, and drives it with a few client threads (plain and
streaming chat completions, a new connection now and then) while a latency toxic is added and
removed every ``--toxic-period-s``. Every ``--sample-s`` it samples the resident set size and
the open file descriptors of both servers from /proc. The goal (issue 10): after the warm-up
(the first fifth of the run), RSS and fds grow by less than 10%.

    python benchmarks/soak.py                      # 30 minutes
    python benchmarks/soak.py --duration-s 300     # a shortened soak

The result is printed as JSON (and written to ``--out`` if given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from harness.toxiproxy import ToxiproxyClient

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "soak"}]}


def _start(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("BROWNOUT_READY "):
        process.kill()
        raise SystemExit(f"{argv[2]} did not start: {line!r}")
    return process, line.split()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _client(url: str, stop: threading.Event, counts: dict[str, int], index: int) -> None:
    requests = 0
    while not stop.is_set():
        # A fresh connection every 50 requests, so accept/close paths are soaked too.
        with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
            for _ in range(50):
                if stop.is_set():
                    break
                try:
                    if requests % 4 == 0:
                        body = {**CHAT, "stream": True}
                        with http.stream("POST", "/v1/chat/completions", json=body) as r:
                            for _chunk in r.iter_bytes():
                                pass
                    else:
                        http.post("/v1/chat/completions", json=CHAT)
                    counts["ok"] += 1
                except httpx.HTTPError:
                    counts["errors"] += 1
                requests += 1


def _growth(samples: list[dict[str, Any]], key: str, warmup_s: float) -> float | None:
    after = [s[key] for s in samples if s["t"] >= warmup_s]
    if len(after) < 6:
        return None
    start = statistics.median(after[:3])
    end = statistics.median(after[-3:])
    return (end - start) / start if start else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=1800.0)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--toxic-period-s", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    mock, mock_url = _start(
        [sys.executable, "-m", "mock_providers", "openai", "--host", "127.0.0.1", "--port", "0"]
    )
    proxy_server, api = _start(
        [sys.executable, "-m", "harness.faultproxy", "-host", "127.0.0.1", "-port", "0"]
    )
    stop = threading.Event()
    counts = {"ok": 0, "errors": 0}
    samples: list[dict[str, Any]] = []
    try:
        with ToxiproxyClient(api) as toxiproxy:
            upstream = mock_url.removeprefix("http://")
            proxy = toxiproxy.create_proxy("soak", listen="127.0.0.1:0", upstream=upstream)
            url = f"http://{proxy.listen}"
            threads = [
                threading.Thread(target=_client, args=(url, stop, counts, i), daemon=True)
                for i in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            t0 = time.monotonic()
            next_toxic = t0 + args.toxic_period_s
            toxic_on = False
            while (now := time.monotonic()) - t0 < args.duration_s:
                samples.append(
                    {
                        "t": round(now - t0, 1),
                        "proxy_rss_kib": _rss_kib(proxy_server.pid),
                        "proxy_fds": _fds(proxy_server.pid),
                        "mock_rss_kib": _rss_kib(mock.pid),
                        "mock_fds": _fds(mock.pid),
                        "requests": counts["ok"],
                        "errors": counts["errors"],
                    }
                )
                print(json.dumps(samples[-1]), file=sys.stderr, flush=True)
                while time.monotonic() < min(now + args.sample_s, t0 + args.duration_s):
                    if time.monotonic() >= next_toxic:
                        if toxic_on:
                            toxiproxy.remove_toxic("soak", "soak-latency")
                        else:
                            toxiproxy.add_toxic(
                                "soak", "latency", {"latency": 5}, name="soak-latency"
                            )
                        toxic_on = not toxic_on
                        next_toxic += args.toxic_period_s
                    time.sleep(0.2)
            stop.set()
            for thread in threads:
                thread.join(35)
    finally:
        stop.set()
        for process in (proxy_server, mock):
            process.terminate()
            process.wait(15)
    warmup_s = args.duration_s / 5
    result = {
        "duration_s": args.duration_s,
        "warmup_s": warmup_s,
        "clients": args.clients,
        "requests": counts["ok"],
        "errors": counts["errors"],
        "growth_after_warmup": {
            key: _growth(samples, key, warmup_s)
            for key in ("proxy_rss_kib", "proxy_fds", "mock_rss_kib", "mock_fds")
        },
        "first": samples[0] if samples else None,
        "last": samples[-1] if samples else None,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
