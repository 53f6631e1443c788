"""The provider model: which models a mock serves and how each one behaves.

A `ModelSpec` carries what clients can observe about a model (its id, context window, output
limit) and how fast it "thinks" (time to first token, tokens per second, jitter). The defaults are
fast enough for tests; `--ttft-ms` / `--tokens-per-s` or a profile file make them realistic for
load runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Flavour = Literal["openai", "anthropic"]
FLAVOURS: tuple[Flavour, ...] = ("openai", "anthropic")

# A fixed creation time keeps /v1/models byte-identical between runs.
_CREATED = 1_715_367_049


@dataclass(frozen=True)
class ModelSpec:
    """One model a mock serves. Times in milliseconds; `tokens_per_s` 0 means instant."""

    id: str
    context_window: int
    max_output_tokens: int
    kind: Literal["chat", "embedding"] = "chat"
    display_name: str = ""
    embedding_dims: int = 0
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0
    jitter_ms: float = 0.0
    created: int = _CREATED
    owned_by: str = "system"


OPENAI_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4o-mini", 128_000, 16_384),
    ModelSpec("gpt-4o", 128_000, 16_384),
    ModelSpec("gpt-4.1-mini", 1_047_576, 32_768),
    ModelSpec("gpt-4.1-nano", 1_047_576, 32_768),
    ModelSpec("o4-mini", 200_000, 100_000),
    ModelSpec("gpt-mock-small", 8_192, 2_048),
    ModelSpec("text-embedding-3-small", 8_191, 0, kind="embedding", embedding_dims=1536),
    ModelSpec("text-embedding-3-large", 8_191, 0, kind="embedding", embedding_dims=3072),
)

# Neutral ids first: the anthropic SDK warns (an error under `filterwarnings = error`) on some
# deprecated real ids, so tests use these.
ANTHROPIC_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("claude-mock-haiku", 200_000, 8_192, display_name="Claude Mock Haiku"),
    ModelSpec("claude-mock-sonnet", 200_000, 64_000, display_name="Claude Mock Sonnet"),
    ModelSpec("claude-mock-small", 8_192, 2_048, display_name="Claude Mock Small"),
    ModelSpec("claude-haiku-4-5", 200_000, 64_000, display_name="Claude Haiku 4.5"),
    ModelSpec("claude-sonnet-4-6", 200_000, 64_000, display_name="Claude Sonnet 4.6"),
    ModelSpec("claude-opus-4-6", 200_000, 32_000, display_name="Claude Opus 4.6"),
)


def default_models(flavour: Flavour) -> tuple[ModelSpec, ...]:
    """The models a freshly started mock of `flavour` serves."""
    return OPENAI_MODELS if flavour == "openai" else ANTHROPIC_MODELS


def with_latency(
    models: tuple[ModelSpec, ...], ttft_ms: float, tokens_per_s: float, jitter_ms: float
) -> tuple[ModelSpec, ...]:
    """The same models with one latency profile applied to every chat model."""
    return tuple(
        replace(m, ttft_ms=ttft_ms, tokens_per_s=tokens_per_s, jitter_ms=jitter_ms)
        if m.kind == "chat"
        else m
        for m in models
    )
