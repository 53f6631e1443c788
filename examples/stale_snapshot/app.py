"""Example SUT: two workers, each with its own retrieval snapshot per conversation (naive), or
one shared, short-lived snapshot (resilient).

    python examples/stale_snapshot/app.py --port 0 --llm-url http://127.0.0.1:8001/v1 \\
        --docstore-url http://127.0.0.1:8002/v1 --mode naive

Prints ``BROWNOUT_READY <url>`` once it listens; serves ``POST /ask``
``{"conversation": "...", "question": "..."}``, ``GET /healthz``, ``GET /metrics``.
See examples/stale_snapshot/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# examples/ holds example_kit, shared by every example service.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from example_kit.serving import positive_float, serve
from snapshot_service import Settings, SnapshotService


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stale_snapshot", description="Example stale-snapshot SUT for brownout scenarios."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--llm-url", required=True, help="OpenAI-compatible base URL (answers)")
    parser.add_argument(
        "--docstore-url", required=True, help="OpenAI-compatible base URL (retrieval passages)"
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("OPENAI_API_KEY", "brownout-example-key")
    )
    parser.add_argument("--mode", choices=("naive", "resilient"), default="naive")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument("--docstore-model", default="gpt-4.1-nano")
    parser.add_argument(
        "--snapshot-ttl-s",
        type=positive_float,
        default=None,
        help="snapshot lifetime before time scaling (default: 30 naive, 1 resilient)",
    )
    parser.add_argument("--timeout-s", type=positive_float, default=10.0)
    args = parser.parse_args(argv)
    for flag in ("llm_url", "docstore_url"):
        if not getattr(args, flag).startswith(("http://", "https://")):
            parser.error(f"--{flag.replace('_', '-')} must be an http(s) URL")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ttl = args.snapshot_ttl_s or (30.0 if args.mode == "naive" else 1.0)
    try:
        scale = float(os.environ.get("BROWNOUT_TIME_SCALE", "1"))
    except ValueError:
        scale = 1.0
    settings = Settings(
        llm_url=args.llm_url,
        docstore_url=args.docstore_url,
        api_key=args.api_key,
        model=args.model,
        docstore_model=args.docstore_model,
        mode=args.mode,
        snapshot_ttl_s=ttl * (scale if scale > 0 else 1.0),
        timeout_s=args.timeout_s,
    )
    return serve(SnapshotService(settings), args.host, args.port, "stale_snapshot")


if __name__ == "__main__":
    sys.exit(main())
