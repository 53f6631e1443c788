"""Deterministic stand-in tokenizer for the mock providers.

Real providers bill and stream in BPE tokens; a mock only needs counts and chunk boundaries that
are *stable* (same text, same numbers, on every machine) and roughly the right size (about four
characters a token for English), so usage, cost and context-window checks behave like the real
thing. A `TokenizerProfile` can scale counts and change chunk sizes, which is how the
"tokenizer change" fault is modelled.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@functools.lru_cache(maxsize=64)
def _piece_pattern(piece_chars: int) -> re.Pattern[str]:
    # Up to `piece_chars` word characters with the whitespace before them (as BPE vocabularies
    # keep it), or one punctuation mark, or trailing whitespace. Every character matches one
    # branch, so the pieces always concatenate back to the text. One C-level findall is what
    # keeps tokenizing off the mock's profile.
    return re.compile(rf"\s*\w{{1,{piece_chars}}}|\s*[^\w\s]|\s+")


@functools.lru_cache(maxsize=4096)
def _cached_pieces(text: str, piece_chars: int) -> tuple[str, ...]:
    # Answers come from a small set of texts (the answer engine is deterministic): cache them.
    return tuple(_piece_pattern(piece_chars).findall(text))


# OpenAI's published recipe: every message costs a few tokens of framing, and the reply is primed
# with a few more. Keeping that shape makes "Hello" cost about what it costs on the real API.
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3


@dataclass(frozen=True)
class TokenizerProfile:
    """How text turns into tokens: `piece_chars` per token at most, counts scaled by `scale`."""

    piece_chars: int = 4
    scale: float = 1.0

    def pieces(self, text: str) -> list[str]:
        """Split `text` into token-sized pieces whose concatenation is `text` (stream chunks)."""
        return list(_cached_pieces(text, max(1, self.piece_chars)))

    def pieces_of(self, parts: Iterable[str]) -> list[str]:
        """`pieces("".join(parts))` for parts that each end where a piece ends (see
        `AnswerEngine.answer_parts`); each part is split (and cached) on its own."""
        n = max(1, self.piece_chars)
        out: list[str] = []
        for part in parts:
            out += _cached_pieces(part, n)
        return out

    def scaled(self, raw: int) -> int:
        """The token count of a text of `raw` pieces (`count(text)` without splitting it)."""
        if raw == 0 or self.scale == 1.0:
            return raw
        return max(1, math.ceil(raw * self.scale))

    def count(self, text: str) -> int:
        """Token count of a plain string (0 for the empty string)."""
        if not text:
            return 0
        if len(text) < 512:
            raw = len(_cached_pieces(text, max(1, self.piece_chars)))
        else:  # long prompts: count without keeping them in the cache
            raw = len(_piece_pattern(max(1, self.piece_chars)).findall(text))
        return max(1, math.ceil(raw * self.scale)) if self.scale != 1.0 else raw

    def count_value(self, value: Any) -> int:
        """Token count of any JSON value: strings counted, containers walked, others by repr."""
        if isinstance(value, str):
            return self.count(value)
        if isinstance(value, dict):
            return sum(self.count_value(v) for v in value.values())
        if isinstance(value, list):
            return sum(self.count_value(v) for v in value)
        if value is None or isinstance(value, bool):
            return 0
        return self.count(str(value))

    def count_messages(self, messages: Iterable[Any], extra: Any = None) -> int:
        """Prompt tokens of a chat request: message contents plus framing, plus `extra` (tools…)."""
        total = REPLY_PRIMING
        for message in messages:
            total += MESSAGE_OVERHEAD
            if isinstance(message, dict):
                content = message.get("content")
                # Plain text, the common case, without `count_value`'s type walk.
                total += self.count(content) if type(content) is str else self.count_value(content)
                if "tool_calls" in message:
                    total += self.count_value(message["tool_calls"])
            else:
                total += self.count_value(message)
        if extra is not None:
            total += self.count_value(extra)
        return total


DEFAULT_TOKENIZER = TokenizerProfile()
