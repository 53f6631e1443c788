"""The cheaper paths give what the plain ones give, on awkward inputs.

An answer is tokenized in parts (`AnswerEngine.answer_parts` + `TokenizerProfile.pieces_of`)
instead of whole, and a reply's token count is taken from its pieces (`scaled`) instead of
re-splitting its text: both must equal the plain computation for every question and tokenizer
profile, including unicode, punctuation at the edges, hyphens and apostrophes, empty and long
questions, knowledge answers and wrong answers.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from test_mock_providers_httpcycle import exchange, serving

from mock_providers import MockApp, MockConfig
from mock_providers.core.answers import AnswerEngine
from mock_providers.core.limits import GuardedProtocol
from mock_providers.core.tokenizer import TokenizerProfile

QUESTIONS = [
    "",
    " ",
    "What is the capital of France?",
    "what is the capital of france",
    "Überraschung: naïve café — 東京はどこ? ✓",
    "don't re-use the well-known state-of-the-art thing's name",
    "?!...",
    "a",
    "x" * 600,
    "word " * 300,
    "tabs\tand\nnewlines\r\nmixed   spaces",
    "12345 678901 2.5e10 -7",
    "emoji 🙂🙂 and ZWJ 👩‍💻 sequences",
    "The Quick Brown Fox Jumps Over The Lazy Dog Again And Again",
]
PROFILES = [
    TokenizerProfile(),
    TokenizerProfile(1, 1.0),
    TokenizerProfile(3, 1.7),
    TokenizerProfile(8, 0.5),
]


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: f"{p.piece_chars}x{p.scale}")
@pytest.mark.parametrize("knowledge", [{}, {"capital of France": "Paris."}])
def test_answer_parts_tokenize_like_the_whole_answer(
    profile: TokenizerProfile, knowledge: dict[str, str]
) -> None:
    engine = AnswerEngine(knowledge)
    for question in QUESTIONS:
        for wrong in (False, True):
            parts = engine.answer_parts(question, wrong=wrong)
            text = engine.answer(question, wrong=wrong)
            assert "".join(parts) == text
            pieces = profile.pieces(text)
            assert profile.pieces_of(parts) == pieces, (question, wrong)
            assert profile.scaled(len(pieces)) == profile.count(text), (question, wrong)
            # A reply cut at max_tokens: the prefix's pieces are the prefix's tokenization.
            for limit in (1, 2, 5):
                cut = "".join(pieces[:limit])
                assert profile.pieces(cut) == pieces[:limit]


def test_answers_keep_their_text() -> None:
    engine = AnswerEngine()
    assert engine.answer("What is the capital of France?").startswith(
        "Mock answer about What is the capital of France. "
    )
    assert engine.answer("").startswith("Mock answer about your message. ")


# ---- the whole mock: one-write responses vs uvicorn's standard two messages ----------------

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
UNICODE = "Überraschung: naïve café — 東京はどこ? 👩‍💻"


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "any-model-x", "messages": [{"role": "user", "content": UNICODE}], **extra}


OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_city", "parameters": CITY}}]
KEY = {"authorization": "Bearer sk-test", "api-key": "k", "x-api-key": "k", "x-goog-api-key": "k"}
CHAT_BODIES: list[Any] = [
    _chat(),
    _chat(max_tokens=1),
    _chat(max_completion_tokens=3, stop=["\n"]),
    _chat(tools=OPENAI_TOOLS),
    _chat(tools=OPENAI_TOOLS, tool_choice={"type": "function", "function": {"name": "get_city"}}),
    _chat(stream=True, stream_options={"include_usage": True}, max_tokens=4),
    _chat(max_tokens=0),
    {"model": "m", "messages": []},
    [1, 2],
    b"{not json",
]
CALLS: dict[str, list[tuple[str, list[Any]]]] = {
    "openai": [
        ("/v1/chat/completions", CHAT_BODIES),
        ("/v1/completions", [{"model": "m", "prompt": UNICODE, "max_tokens": 2}]),
        ("/v1/embeddings", [{"model": "text-embedding-3-small", "input": UNICODE}]),
        ("/v1/nowhere", [{}]),
    ],
    "azure": [
        ("/openai/deployments/dep/chat/completions?api-version=2024-10-21", CHAT_BODIES[:6]),
        ("/openai/deployments/dep/chat/completions", CHAT_BODIES[:1]),
    ],
    "anthropic": [
        (
            "/v1/messages",
            [
                {
                    "model": "claude-x",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": UNICODE}],
                },
                {
                    "model": "claude-x",
                    "max_tokens": 1,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                {
                    "model": "claude-x",
                    "max_tokens": 50,
                    "messages": [{"role": "user", "content": "city?"}],
                    "tools": [{"name": "get_city", "input_schema": CITY}],
                },
                {
                    "model": "claude-x",
                    "max_tokens": 9,
                    "stream": True,
                    "messages": [{"role": "user", "content": "s"}],
                },
                {"model": "claude-x", "messages": [{"role": "user", "content": "no max"}]},
            ],
        ),
        (
            "/v1/messages/count_tokens",
            [{"model": "claude-x", "messages": [{"role": "user", "content": "c"}]}],
        ),
    ],
    "gemini": [
        (
            "/v1beta/models/gemini-x:generateContent",
            [
                {"contents": [{"role": "user", "parts": [{"text": UNICODE}]}]},
                {
                    "contents": [{"parts": [{"text": "q"}]}],
                    "generationConfig": {"maxOutputTokens": 1},
                },
                {"contents": []},
            ],
        ),
        (
            "/v1beta/models/gemini-x:streamGenerateContent?alt=sse",
            [{"contents": [{"parts": [{"text": "s"}]}]}],
        ),
    ],
}
# What differs between two calls anyway: ids, times, the date line, processing times.
_VARIABLE = [
    (rb"date: [^\r]+", b"date: D"),
    (rb"\b(chatcmpl-|cmpl-|req_|msg_|toolu_|call_|fp_|resp_)[0-9A-Za-z]+", rb"\1ID"),
    (rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", b"UUID"),
    (rb'"(created|created_at)":\d+', rb'"\1":T'),
    (rb"(openai-processing-ms: |dur=)\d+", rb"\1N"),
    (rb'"responseId":"[^"]+"', b'"responseId":"R"'),
]


def _normalised(raw: bytes) -> bytes:
    for pattern, repl in _VARIABLE:
        raw = re.sub(pattern, repl, raw)
    return raw


def _request(path: str, body: Any) -> bytes:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = "".join(f"{k}: {v}\r\n" for k, v in KEY.items())
    return (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{headers}"
        f"content-length: {len(data)}\r\nconnection: close\r\n\r\n"
    ).encode() + data


@pytest.mark.parametrize("flavour", sorted(CALLS))
def test_the_mock_sends_what_it_sends_through_uvicorns_own_path(flavour: str) -> None:
    # Two mocks alike: one on its own protocol (one-write responses, pre-rendered header lines),
    # one on stock uvicorn, which offers no `WHOLE` extension (so the standard messages).
    fast, plain = (MockApp(MockConfig(flavour)) for _ in range(2))  # type: ignore[arg-type]
    with serving(fast, GuardedProtocol) as port_fast, serving(plain, "httptools") as port_plain:
        for path, bodies in CALLS[flavour]:
            for body in bodies:
                for _ in range(2):  # the second identical call takes the replay path
                    got = exchange(port_fast, _request(path, body))
                    want = exchange(port_plain, _request(path, body))
                    assert want.startswith(b"HTTP/1.1 "), want
                    assert _normalised(got) == _normalised(want), (path, body)


def test_ids_keep_their_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    """`new_id`'s cached formats give what the plain f-string gave, at the counter's edges."""
    import itertools

    from mock_providers.core import wire

    for nbytes in (1, 4, 5, 12, 16, 24):
        digits = max(2 * nbytes - 8, 1)
        for start in (0, 1, 15, 16**6, 2**64 - 1, 2**64 + 5):
            monkeypatch.setattr(wire, "_ID_COUNTER", itertools.count(start))
            expected = f"chatcmpl-{wire._ID_STEM}{start % (16**digits):0{digits}x}"
            assert wire.new_id("chatcmpl-", nbytes) == expected
    stem = wire._ID_STEM
    wire.reseed_ids()  # a forked worker: a new stem, and no format built with the old one
    assert wire.new_id("x-", 12).startswith("x-" + wire._ID_STEM) and stem != wire._ID_STEM
