"""`python -m mock_providers openai|anthropic …` (also `brownout mock …`).

Prints exactly one stdout line, `BROWNOUT_READY <url>`, once the port accepts calls; everything
else goes to stderr. Exit status: 0 after a graceful stop, 2 for bad arguments, 3 when the
address cannot be bound.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import orjson

from mock_providers.app import MockConfig
from mock_providers.core.faults import FaultSpecError
from mock_providers.core.models import FLAVOURS, Flavour, default_models, with_latency
from mock_providers.core.shared import MAX_WORKERS
from mock_providers.provider_config import ProviderFile, parse_provider_file
from mock_providers.server import READY_PREFIX, serve
from mock_providers.workers import serve_workers

EXIT_OK, EXIT_USAGE, EXIT_INFRA = 0, 2, 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mock_providers",
        description="OpenAI- or Anthropic-compatible mock LLM provider with faults, a control "
        "API under /_brownout/ and a call journal.",
    )
    p.add_argument("flavour", choices=FLAVOURS, help="which provider's wire format to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    p.add_argument("--journal", type=Path, help="append one JSON line per call to this file")
    p.add_argument(
        "--bodies", type=Path, help="append each call's request and response body (capped) here"
    )
    p.add_argument("--seed", type=int, default=0, help="seed for fault decisions and jitter")
    p.add_argument("--name", default="", help="name in the journal and health (default flavour)")
    p.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token")
    p.add_argument(
        "--tokens-per-s", type=float, default=0.0, help="output speed; 0 sends everything at once"
    )
    p.add_argument("--jitter-ms", type=float, default=0.0, help="uniform extra TTFT 0..jitter")
    p.add_argument(
        "--knowledge", type=Path, help="JSON object {question: answer} the mock answers right"
    )
    p.add_argument(
        "--config",
        type=Path,
        help="JSON provider file: model cards (`models`), `strict_models`, `capacity`",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port (SO_REUSEPORT), sharing faults, limits and capacity",
    )
    p.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug")
    )
    return p


def _load_knowledge(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    data = orjson.loads(path.read_bytes())
    if isinstance(data, list):
        data = {item["question"]: item["answer"] for item in data}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(
            "expected a JSON object of question → answer strings, or a list of "
            '{"question", "answer"} objects'
        )
    return data


def main(argv: list[str] | None = None) -> int:
    """Run a mock provider until SIGTERM/SIGINT; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    if not 0 <= args.port <= 65535:
        parser.print_usage(sys.stderr)
        print(f"error: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return EXIT_USAGE
    if not 1 <= args.workers <= MAX_WORKERS:
        print(f"error: --workers must be 1..{MAX_WORKERS}, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    for option in ("ttft_ms", "tokens_per_s", "jitter_ms"):
        if getattr(args, option) < 0:
            print(f"error: --{option.replace('_', '-')} must be >= 0", file=sys.stderr)
            return EXIT_USAGE
    try:
        knowledge = _load_knowledge(args.knowledge)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: --knowledge {args.knowledge}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    flavour: Flavour = args.flavour
    models = with_latency(default_models(flavour), args.ttft_ms, args.tokens_per_s, args.jitter_ms)
    provider = ProviderFile(models)
    if args.config is not None:
        try:
            provider = parse_provider_file(orjson.loads(args.config.read_bytes()), flavour, models)
        except (OSError, orjson.JSONDecodeError, FaultSpecError) as exc:
            print(f"error: --config {args.config}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    config = MockConfig(
        flavour=flavour,
        name=args.name or flavour,
        seed=args.seed,
        journal=args.journal,
        bodies=args.bodies,
        models=provider.models,
        knowledge=knowledge,
        strict_models=provider.strict_models,
        capacity=provider.capacity,
    )

    def ready(url: str) -> None:
        sys.stdout.write(f"{READY_PREFIX} {url}\n")
        sys.stdout.flush()

    try:
        if args.workers > 1:
            serve_workers(config, args.host, args.port, args.workers, ready, args.log_level)
        else:
            serve(config, args.host, args.port, on_ready=ready, log_level=args.log_level)
    except OSError as exc:
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_INFRA
    return EXIT_OK
