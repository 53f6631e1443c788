"""OpenAI `POST /v1/embeddings`: deterministic unit vectors, as floats or base64.

The openai SDK asks for `encoding_format: "base64"` when the caller chose nothing and decodes
little-endian float32 itself, so both encodings must be right. Vectors come from a hash of the
input text: the same text always embeds to the same vector.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Any

from mock_providers.core.models import ModelSpec
from mock_providers.core.tokenizer import TokenizerProfile
from mock_providers.core.wire import WireError


@dataclass
class EmbeddingRequest:
    model: str
    inputs: list[str]
    tokens_in: int
    dimensions: int | None
    encoding_format: str


def _bad(message: str, param: str | None = None) -> WireError:
    return WireError(400, message, param=param, code="invalid_value" if param else None)


def parse_embedding_request(payload: Any, tokenizer: TokenizerProfile) -> EmbeddingRequest:
    if not isinstance(payload, dict):
        raise _bad("Invalid type for request body: expected an object.")
    model = payload.get("model")
    if not isinstance(model, str):
        raise _bad("you must provide a model parameter", "model")
    raw = payload.get("input")
    inputs: list[str]
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        inputs = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        inputs = [" ".join(str(x) for x in raw)]
    elif (
        isinstance(raw, list)
        and raw
        and all(isinstance(x, list) and all(isinstance(t, int) for t in x) for x in raw)
    ):
        inputs = [" ".join(str(t) for t in x) for x in raw]
    else:
        raise _bad(
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            "input",
        )
    if any(s == "" for s in inputs):
        raise _bad(
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            "input",
        )
    dims = payload.get("dimensions")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
        raise _bad("Invalid value for 'dimensions'.", "dimensions")
    fmt = payload.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise _bad(f"Invalid value for 'encoding_format': {fmt!r}.", "encoding_format")
    return EmbeddingRequest(model, inputs, sum(tokenizer.count(s) for s in inputs), dims, fmt)


def vector(text: str, dims: int) -> list[float]:
    """A unit vector that depends only on `text` and `dims`."""
    out: list[float] = []
    counter = 0
    seed = text.encode("utf-8", "surrogatepass")
    while len(out) < dims:
        block = hashlib.blake2b(seed + counter.to_bytes(4, "little"), digest_size=64).digest()
        out.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    out = out[:dims]
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [x / norm for x in out]


def embedding_response(req: EmbeddingRequest, spec: ModelSpec) -> dict[str, Any]:
    dims = req.dimensions or spec.embedding_dims
    data = []
    for index, text in enumerate(req.inputs):
        vec = vector(text, dims)
        embedding: Any = vec
        if req.encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": req.model,
        "usage": {"prompt_tokens": req.tokens_in, "total_tokens": req.tokens_in},
    }
