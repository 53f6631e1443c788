"""The provider model: which models a mock serves and how each one behaves.

A `ModelSpec` carries what clients can observe about a model (its id, context window, output
limit) and how fast it "thinks" (time to first token, tokens per second, jitter). The defaults are
fast enough for tests; `--ttft-ms` / `--tokens-per-s` or a profile file make them realistic for
load runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

ModelKind = Literal["chat", "embedding"]

Flavour = Literal["openai", "anthropic", "azure", "gemini"]
FLAVOURS: tuple[Flavour, ...] = ("openai", "anthropic", "azure", "gemini")

# A fixed creation time keeps /v1/models byte-identical between runs.
_CREATED = 1_715_367_049


@dataclass(frozen=True)
class ModelSpec:
    """One model a mock serves. Times in milliseconds; `tokens_per_s` 0 means instant."""

    id: str
    context_window: int
    max_output_tokens: int
    kind: ModelKind = "chat"
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


# Gemini lists models as `models/{id}`; the ids here are what `generateContent` paths carry.
GEMINI_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gemini-mock-flash", 1_048_576, 65_536, display_name="Gemini Mock Flash"),
    ModelSpec("gemini-mock-small", 8_192, 2_048, display_name="Gemini Mock Small"),
    ModelSpec("gemini-2.5-flash", 1_048_576, 65_536, display_name="Gemini 2.5 Flash"),
    ModelSpec("gemini-2.5-pro", 1_048_576, 65_536, display_name="Gemini 2.5 Pro"),
    ModelSpec(
        "gemini-embedding-001",
        2_048,
        0,
        kind="embedding",
        embedding_dims=3072,
        display_name="Gemini Embedding 001",
    ),
)


def default_models(flavour: Flavour) -> tuple[ModelSpec, ...]:
    """The models a freshly started mock of `flavour` serves (Azure: deployments named after
    the OpenAI models, as most deployments are)."""
    if flavour == "anthropic":
        return ANTHROPIC_MODELS
    if flavour == "gemini":
        return GEMINI_MODELS
    return OPENAI_MODELS


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


# The card an unlisted model id gets: a generous current-generation model of the flavour.
DEFAULT_CARDS: dict[Flavour, ModelSpec] = {
    "openai": ModelSpec("*", 128_000, 16_384),
    "anthropic": ModelSpec("*", 200_000, 64_000),
    "azure": ModelSpec("*", 128_000, 16_384),
    "gemini": ModelSpec("*", 1_048_576, 65_536),
}
DEFAULT_EMBEDDING = ModelSpec("*", 8_191, 0, kind="embedding", embedding_dims=1536)
# Cards made for unlisted ids are kept (so each id's card is built once) up to this many.
_MAX_MADE = 4096


class ModelBook:
    """The models a mock answers for: the listed cards, and (unless strict) any other id.

    Teams point their code at the mock unchanged, and their model ids are whatever that code
    uses, so by default an unlisted id is served with the flavour's default card (context window,
    output limit, the listed chat models' latency). `strict` restores the provider's 404 for
    unlisted ids, for deprecation and typo tests.
    """

    def __init__(
        self, flavour: Flavour, listed: tuple[ModelSpec, ...], *, strict: bool = False
    ) -> None:
        self.listed = listed
        self.strict = strict
        self._by_id = {m.id: m for m in listed}
        chat = next((m for m in listed if m.kind == "chat"), None)
        base = DEFAULT_CARDS[flavour]
        if chat is not None:  # unlisted ids think as fast as the listed ones
            base = replace(
                base, ttft_ms=chat.ttft_ms, tokens_per_s=chat.tokens_per_s, jitter_ms=chat.jitter_ms
            )
        self._templates: dict[ModelKind, ModelSpec] = {
            "chat": base,
            "embedding": DEFAULT_EMBEDDING,
        }
        self._made: dict[tuple[str, ModelKind], ModelSpec] = {}

    def get(self, model_id: str, kind: ModelKind = "chat") -> ModelSpec | None:
        """The card for `model_id` used as `kind`; None when the mock must answer 404."""
        spec = self._by_id.get(model_id)
        if spec is not None:
            return spec if spec.kind == kind else None
        if self.strict:
            return None
        made = self._made.get((model_id, kind))
        if made is None:
            made = replace(self._templates[kind], id=model_id, display_name=model_id)
            if len(self._made) < _MAX_MADE:
                self._made[(model_id, kind)] = made
        return made

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and (not self.strict or model_id in self._by_id)

    def values(self) -> tuple[ModelSpec, ...]:
        """The listed cards, in order (what `/v1/models` shows)."""
        return self.listed


def merge_models(
    base: tuple[ModelSpec, ...], extra: tuple[ModelSpec, ...]
) -> tuple[ModelSpec, ...]:
    """`base` with `extra` cards added, or replacing the base card of the same id."""
    by_id = {m.id: m for m in base}
    for m in extra:
        by_id[m.id] = m
    return tuple(by_id.values())
