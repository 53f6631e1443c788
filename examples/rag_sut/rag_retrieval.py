"""Toy retrieval: pick the passages that share the most words with the question.

Real RAG pipelines embed and search a vector store; the example only needs a retrieval step that
is deterministic, cheap and gives the prompt some context, so that the interesting part (how the
pipeline treats its LLM provider under faults) is not drowned in machinery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


CORPUS: Final[tuple[Passage, ...]] = (
    Passage(
        "p1",
        "Retries",
        "A retry repeats a failed call to a dependency. Retries help with transient errors but "
        "multiply the load on a dependency that is already overloaded.",
    ),
    Passage(
        "p2",
        "Exponential backoff",
        "Backoff waits longer after each failed attempt; full jitter picks a random wait between "
        "zero and the capped exponential delay so that clients do not retry in lockstep.",
    ),
    Passage(
        "p3",
        "Circuit breakers",
        "A circuit breaker stops calling a dependency after repeated failures, fails fast while "
        "open, and lets a single probe through after a cool-down to test recovery.",
    ),
    Passage(
        "p4",
        "Retry budgets",
        "A retry budget caps retries to a fraction of requests, for example ten percent, so a "
        "failing dependency never sees more than a small amplification of normal traffic.",
    ),
    Passage(
        "p5",
        "Rate limits",
        "A rate limited provider answers 429 with a retry-after header; well behaved clients wait "
        "at least that long before they try again.",
    ),
    Passage(
        "p6",
        "Queues and backlog",
        "When work arrives faster than workers finish it, the queue grows and every request waits "
        "longer; the backlog can outlive the fault that caused it.",
    ),
    Passage(
        "p7",
        "Timeouts and deadlines",
        "A timeout bounds one call; a deadline bounds the whole request, so work whose caller has "
        "already given up is dropped instead of wasting capacity.",
    ),
    Passage(
        "p8",
        "Brownouts",
        "A brownout is a partial failure: the service still answers and health checks pass, but "
        "answers are slower, wrong or more expensive.",
    ),
)

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS: Final = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "does", "for", "from", "how"}
    | {"in", "is", "it", "of", "on", "or", "so", "that", "the", "this", "to", "what", "when"}
    | {"which", "who", "why", "with", "you", "your"}
)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 1}


def retrieve(question: str, k: int = 2) -> list[Passage]:
    """The ``k`` passages sharing most words with the question (ties: corpus order)."""
    asked = _words(question)
    ranked = sorted(
        enumerate(CORPUS),
        key=lambda item: (-len(asked & _words(item[1].title + " " + item[1].text)), item[0]),
    )
    return [passage for _, passage in ranked[:k]]


def build_messages(question: str, passages: list[Passage]) -> list[dict[str, str]]:
    """The chat messages sent to the provider: instructions, retrieved context, question."""
    context = "\n".join(f"[{p.id}] {p.title}: {p.text}" for p in passages)
    return [
        {
            "role": "system",
            "content": "Answer the question using only the context. Cite passage ids.",
        },
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {question}"},
    ]
