"""Deterministic stand-in tokenizer for the mock providers.

Real providers bill and stream in BPE tokens; a mock only needs counts and chunk boundaries that
are *stable* (same text, same numbers, on every machine) and roughly the right size (about four
characters a token for English), so usage, cost and context-window checks behave like the real
thing. A `TokenizerProfile` can scale counts and change chunk sizes, which is how the
"tokenizer change" fault is modelled.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# A word (with its leading whitespace, as BPE vocabularies keep it) or one punctuation mark.
_PIECE = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")

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
        out: list[str] = []
        step = max(1, self.piece_chars)
        for match in _PIECE.finditer(text):
            piece = match.group()
            if len(piece) <= step + 1:
                out.append(piece)
                continue
            out.extend(piece[i : i + step] for i in range(0, len(piece), step))
        return out

    def count(self, text: str) -> int:
        """Token count of a plain string (0 for the empty string)."""
        if not text:
            return 0
        raw = len(self.pieces(text))
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
                total += self.count_value(message.get("content"))
                if "tool_calls" in message:
                    total += self.count_value(message["tool_calls"])
            else:
                total += self.count_value(message)
        if extra is not None:
            total += self.count_value(extra)
        return total


DEFAULT_TOKENIZER = TokenizerProfile()
