"""Deterministic answers and tool calls.

The mock has to "know the right answer" so a harness can tell "200 OK but wrong" from a good
reply: the same question always gets the same text, optionally taken from a question → answer
knowledge table, and the `wrong_answer` fault swaps in a different, equally stable text. When the
request offers tools, the mock calls one with arguments built from the tool's JSON Schema, again
the same every time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)*")

# Filler sentences give answers a realistic length; which ones are used depends on a hash of the
# question, never on process state, so answers are stable across runs and machines.
_SENTENCES = (
    "The short answer is that it depends on the context you provide.",
    "Here is a concise summary based on the information available.",
    "Several factors matter, but the main one is usually the simplest.",
    "In practice, most teams start with the default and adjust from there.",
    "This is consistent with the documentation and common usage.",
    "If you need more detail, ask a narrower follow-up question.",
    "The relevant figures are stable and easy to verify.",
    "A careful reading of the sources supports this conclusion.",
)
_WRONG = (
    "Actually, the opposite is true in nearly every case.",
    "The commonly cited figure here is off by a factor of ten.",
    "This was settled long ago, and the answer is no.",
    "Nobody has ever measured this reliably.",
)


def normalise(text: str) -> str:
    """Lower-case words joined by single spaces: the key used to match knowledge entries."""
    return " ".join(w.lower() for w in _WORD.findall(text))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class AnswerEngine:
    """Stable answers to questions; `knowledge` maps questions to their right answers."""

    knowledge: Mapping[str, str] = field(default_factory=dict)
    sentences: int = 2

    def __post_init__(self) -> None:
        self._index = {normalise(q): a for q, a in self.knowledge.items()}
        self._cache: dict[tuple[str, bool], tuple[str, ...]] = {}

    def right_answer(self, question: str) -> str | None:
        """The knowledge table's answer to `question` (exact words first, then containment)."""
        if not self._index:
            return None
        key = normalise(question)
        if key in self._index:
            return self._index[key]
        for known, answer in self._index.items():
            if known and known in key:
                return answer
        return None

    def answer(self, question: str, *, wrong: bool = False) -> str:
        """The answer to `question`; `wrong` gives a different, equally stable one."""
        return "".join(self.answer_parts(question, wrong=wrong))

    def answer_parts(self, question: str, *, wrong: bool = False) -> tuple[str, ...]:
        """`answer` in parts that each end where a token piece ends (a word before a space, or
        a punctuation mark), so the tokenizer can split each alone and join the pieces
        (`TokenizerProfile.pieces_of`): a new question costs tokenizing its topic only, the
        filler sentences (a few dozen combinations) are split once."""
        key = (question, wrong)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= 8192:  # load tests repeat a few prompts; bound the rest
                self._cache.clear()
            cached = self._cache[key] = self._answer(question, wrong)
        return cached

    def _answer(self, question: str, wrong: bool) -> tuple[str, ...]:
        digest = _digest(question)
        if wrong:
            known = self.right_answer(question)
            lead = _WRONG[digest[0] % len(_WRONG)]
            return (lead,) if known is None else (f"{lead} It is not {known}.",)
        known = self.right_answer(question)
        if known is not None:
            return (known,)
        topic = " ".join(_WORD.findall(question)[:8]) or "your message"
        picked = [_SENTENCES[digest[1 + i] % len(_SENTENCES)] for i in range(self.sentences)]
        # "...about" | " topic." | " Sentence. Sentence.": a word before a space, then a full
        # stop; `tests/mock_providers/test_mock_providers_fastpath.py` checks the split.
        return ("Mock answer about", f" {topic}.", " " + " ".join(picked))

    def thoughts(self, question: str) -> str:
        """Stable "extended thinking" text for `question` (Anthropic thinking blocks)."""
        topic = " ".join(_WORD.findall(question)[:12]) or "the request"
        return (
            f"The user asks about {topic}. I should answer directly, state the key fact "
            "first, and keep it short."
        )

    def tool_call(self, tools: list[dict[str, Any]], question: str) -> tuple[str, dict[str, Any]]:
        """Which tool to call and with what arguments: the first tool, args from its schema."""
        name, schema = tools[0]["name"], tools[0]["schema"]
        return name, arguments_for(schema, question)


def arguments_for(schema: Any, question: str) -> dict[str, Any]:
    """Arguments satisfying an object JSON Schema: required properties (or all if none marked)."""
    if not isinstance(schema, dict):
        return {}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) else list(props)
    return {name: _value_for(props[name], name, question) for name in names}


def _value_for(schema: Any, name: str, question: str) -> Any:
    if not isinstance(schema, dict):
        return name
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value_for(schema.get("items"), name, question)]
    if kind == "object":
        return arguments_for(schema, question)
    # A proper noun from the question ("Paris") is the most plausible string argument.
    names = _CAPITALISED.findall(question)
    return names[-1] if names else (question.strip()[:40] or name)
