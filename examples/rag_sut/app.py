"""Example SUT: a small RAG-style HTTP service with a ``naive`` or ``resilient`` retry policy.

Run it the way brownout scenarios do::

    python examples/rag_sut/app.py --host 127.0.0.1 --port 0 \\
        --provider-url http://127.0.0.1:8001/v1 --policy naive

Once it listens it prints one line, ``BROWNOUT_READY http://127.0.0.1:<port>``, and serves
``POST /ask`` ``{"question": "...", "stream": false}`` (server-sent events with ``"stream": true``),
``GET /healthz`` and ``GET /metrics`` (Prometheus text). See examples/rag_sut/README.md.
SIGTERM or SIGINT stop it gracefully (exit status 0).

It is deliberately two pipelines in one: the same retrieval, queue and workers, with the
provider retry policy as the only difference, so a brownout scenario run against each shows
what the policy alone changes. It is an example, not part of the harness: it imports nothing
from brownout and is started by path, with its own directory on ``sys.path``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# examples/ holds example_kit, shared by every example service.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from example_kit.serving import positive_float, positive_int, serve
from rag_failover import make_policy
from rag_service import RagService, Settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rag_sut", description="Example RAG service for brownout scenarios."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument(
        "--provider-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8001/v1 (default $OPENAI_BASE_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY", "brownout-example-key"),
        help="bearer token sent to the provider (default $OPENAI_API_KEY)",
    )
    parser.add_argument("--policy", choices=("naive", "resilient"), default="naive")
    parser.add_argument("--workers", type=positive_int, default=4, help="provider workers")
    parser.add_argument("--model", default="gpt-4o-mini")
    parser.add_argument(
        "--timeout-s", type=positive_float, default=10.0, help="timeout of one provider call"
    )
    parser.add_argument(
        "--deadline-s",
        type=positive_float,
        default=None,
        help="whole-request budget, queue wait included; resilient only "
        "(default: twice --timeout-s)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=0, help="reject with 503 beyond this many waiting jobs"
    )
    parser.add_argument(
        "--shed-wait-s",
        type=positive_float,
        default=None,
        help="resilient only: answer 503 at once when a new job's expected queue wait (queue "
        "depth x mean service time / workers) exceeds this (default: no shedding)",
    )
    parser.add_argument(
        "--provider-stream",
        action="store_true",
        help="call the provider with stream=true even for plain answers (assembled); answers "
        'asked for with {"stream": true} are always streamed',
    )
    parser.add_argument(
        "--fallback-url",
        default=None,
        help="a second OpenAI-compatible provider; the resilient policy fails over to it "
        "(one circuit breaker per provider)",
    )
    parser.add_argument("--fallback-model", default=None, help="its model (default --model)")
    parser.add_argument(
        "--breaker-open-s",
        type=positive_float,
        default=None,
        help="how long an open circuit breaker rejects calls (default 5 s, multiplied by "
        "$BROWNOUT_TIME_SCALE so a time-scaled run keeps its proportions)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for backoff jitter")
    args = parser.parse_args(argv)
    if not args.provider_url:
        parser.error("--provider-url is required (or set OPENAI_BASE_URL)")
    for option in ("provider_url", "fallback_url"):
        url = getattr(args, option)
        if url is not None and not url.startswith(("http://", "https://")):
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} must be an http(s) URL, got {url!r}")
    return args


def _time_scale() -> float:
    """``brownout run --time-scale`` as the SUT sees it (1 outside brownout or when invalid)."""
    try:
        scale = float(os.environ.get("BROWNOUT_TIME_SCALE", "1"))
    except ValueError:
        return 1.0
    return scale if scale > 0 else 1.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    deadline_s = None
    if args.policy == "resilient":
        deadline_s = args.deadline_s or 2.0 * args.timeout_s
    settings = Settings(
        provider_url=args.provider_url,
        api_key=args.api_key,
        model=args.model,
        workers=args.workers,
        timeout_s=args.timeout_s,
        max_queue=max(0, args.max_queue),
        deadline_s=deadline_s,
        provider_stream=args.provider_stream,
        fallback_url=args.fallback_url,
        fallback_model=args.fallback_model,
        shed_wait_s=args.shed_wait_s if args.policy == "resilient" else None,
    )
    providers = 2 if args.fallback_url else 1
    breaker_open_s = args.breaker_open_s
    if breaker_open_s is None:
        breaker_open_s = 5.0 * _time_scale()
    policy = make_policy(args.policy, args.timeout_s, args.seed, providers, breaker_open_s)
    app = RagService(settings, policy)

    return serve(app, args.host, args.port, "rag_sut")


if __name__ == "__main__":
    sys.exit(main())
