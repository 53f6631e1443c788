"""Benchmark: the mock's own work per call, in process (no sockets, no server).

Calls the OpenAI mock's ASGI app directly, the way the mock's protocol does (the scope offers
the `brownout.response.whole` extension; `send` discards), journal on, the collector tuned as
`serve` tunes it, and reports CPU microseconds per call for a repeated prompt (the replay path)
and a new prompt every call (the full path). What the server, the event loop and the kernel
add is what `bench_mock_providers.py` measures against a bare endpoint; this isolates the
mock's Python, which is steadier on a shared machine than anything over sockets.

Usage: python benchmarks/bench_mock_inprocess.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mock_providers import MockApp, MockConfig
from mock_providers.server import tune_gc

try:  # what the mock's protocol offers (absent before the one-write path: run the old code too)
    from mock_providers.core.httpcycle import WHOLE

    EXTENSIONS: dict[str, Any] = {WHOLE: {}}
except ImportError:
    EXTENSIONS = {}

# The bodies bench_mock_providers.py sends (its CHAT_BODY and its wrk script's new prompts).
FIXED = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":'
    b'"What is the capital of France?"}]}'
)
NEW = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":'
    b'"What is the capital of country number %d?"}]}'
)
HEADERS = [(b"host", b"x"), (b"content-type", b"application/json")]


async def run(app: MockApp, bodies: list[bytes]) -> float:
    """CPU seconds for one call per body."""

    async def send(message: dict[str, Any]) -> None:
        return None

    t0 = time.process_time()
    for body in bodies:

        async def receive(body: bytes = body) -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "headers": HEADERS,
            "extensions": EXTENSIONS,
            "client": ("127.0.0.1", 1),
        }
        await app(scope, receive, send)
    return time.process_time() - t0


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        app = MockApp(MockConfig("openai", journal=Path(tmp) / "calls.jsonl"))
        counter = 0

        def new_bodies() -> list[bytes]:
            nonlocal counter
            counter += args.calls
            return [NEW % i for i in range(counter - args.calls, counter)]

        await run(app, [FIXED] * 2000)  # warm-up, and the replay entry
        await run(app, new_bodies()[:2000])
        results: dict[str, list[float]] = {"repeated": [], "new": []}
        for _ in range(args.rounds):  # interleaved, so machine noise hits both alike
            results["repeated"].append(await run(app, [FIXED] * args.calls) / args.calls)
            results["new"].append(await run(app, new_bodies()) / args.calls)
        app.close()
    print(f"# load avg {os.getloadavg()[0]:.2f}, {args.rounds} rounds of {args.calls:,} calls")
    for name, label in (
        ("repeated", "repeated prompt (replay path)"),
        ("new", "new prompt (full path)"),
    ):
        per_call = [1e6 * r for r in results[name]]
        print(
            f"{label}: median {statistics.median(per_call):.1f} us CPU/call "
            f"(rounds: {', '.join(f'{x:.1f}' for x in per_call)})"
        )


if __name__ == "__main__":
    asyncio.run(main())
