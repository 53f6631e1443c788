"""Example SUT: an agent workflow (tool call, tool result, streamed draft) calling its provider
through the official ``openai`` SDK, in a ``naive`` or ``resilient`` mode.

    python examples/agent_workflow/app.py --port 0 --provider-url http://127.0.0.1:8001/v1 \\
        --mode naive

Prints ``BROWNOUT_READY <url>`` once it listens; serves ``POST /run`` ``{"task": "..."}``,
``GET /healthz`` and ``GET /metrics``. See examples/agent_workflow/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# examples/ holds example_kit, shared by every example service.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from agent_service import AgentService, Settings
from example_kit.serving import positive_float, positive_int, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="agent_workflow", description="Example agent workflow for brownout scenarios."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--provider-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1",
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY", "brownout-example-key")
    )
    parser.add_argument("--mode", choices=("naive", "resilient"), default="naive")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--concurrency", type=positive_int, default=8, help="workflows at once")
    parser.add_argument("--timeout-s", type=positive_float, default=10.0)
    parser.add_argument(
        "--read-timeout-s",
        type=positive_float,
        default=None,
        help="longest silence in a stream (default: 2 s resilient, --timeout-s naive)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the backoff jitter")
    args = parser.parse_args(argv)
    if not args.provider_url or not args.provider_url.startswith(("http://", "https://")):
        parser.error(f"--provider-url must be an http(s) URL, got {args.provider_url!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    read_timeout = args.read_timeout_s
    if read_timeout is None:
        read_timeout = 2.0 if args.mode == "resilient" else args.timeout_s
    settings = Settings(
        provider_url=args.provider_url,
        api_key=args.api_key,
        model=args.model,
        mode=args.mode,
        concurrency=args.concurrency,
        timeout_s=args.timeout_s,
        read_timeout_s=read_timeout,
        seed=args.seed,
    )
    return serve(AgentService(settings), args.host, args.port, "agent_workflow")


if __name__ == "__main__":
    sys.exit(main())
