"""Example SUT: an async job pipeline (a leased job queue, workers calling the provider) in a
``naive`` or ``resilient`` mode.

    python examples/job_pipeline/app.py --port 0 --provider-url http://127.0.0.1:8001/v1 \\
        --mode naive

Prints ``BROWNOUT_READY <url>`` once it listens; serves ``POST /jobs``, ``GET /jobs/ID``,
``GET /healthz``, ``GET /metrics``. See examples/job_pipeline/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# examples/ holds example_kit, shared by every example service.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from example_kit.serving import positive_float, positive_int, serve
from job_service import JobService, Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="job_pipeline", description="Example async job pipeline for brownout scenarios."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--provider-url", default=os.environ.get("OPENAI_BASE_URL"))
    parser.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY", "brownout-example-key")
    )
    parser.add_argument("--mode", choices=("naive", "resilient"), default="naive")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--workers", type=positive_int, default=4)
    parser.add_argument(
        "--lease-s",
        type=positive_float,
        default=2.0,
        help="visibility timeout of a taken job (not time-scaled: it is compared with "
        "provider latency, which --time-scale leaves alone)",
    )
    parser.add_argument(
        "--wait-s", type=positive_float, default=15.0, help="how long POST /jobs waits"
    )
    parser.add_argument("--timeout-s", type=positive_float, default=10.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not args.provider_url or not args.provider_url.startswith(("http://", "https://")):
        parser.error(f"--provider-url must be an http(s) URL, got {args.provider_url!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings(
        provider_url=args.provider_url,
        api_key=args.api_key,
        model=args.model,
        mode=args.mode,
        workers=args.workers,
        lease_s=args.lease_s,
        wait_s=args.wait_s,
        timeout_s=args.timeout_s,
        seed=args.seed,
    )
    return serve(JobService(settings), args.host, args.port, "job_pipeline")


if __name__ == "__main__":
    sys.exit(main())
