"""Deterministic OpenAI embeddings answers for the fake upstream (documented shape:
``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
"usage": {"prompt_tokens", "total_tokens"}}``).

Rules, so tests can assert exact values: each input's vector has ``dimensions`` values
(default ``DEFAULT_DIMENSIONS``) derived from SHA-256 of the input; a string input counts one
token per whitespace-separated word (at least one), a token-id input one per id.
``encoding_format: "base64"`` sends each vector as little-endian float32 bytes in base64,
as OpenAI does.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

DEFAULT_DIMENSIONS = 8
#: The most dimensions the fake makes (text-embedding-3-large's 3072): more is a 400.
MAX_DIMENSIONS = 3072


def inputs_of(value: Any) -> list[str | list[int]]:
    """The request's inputs, one per vector: a string, strings, token ids, token-id lists."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(item, int) for item in value):
        return [list(value)]
    return list(value)


def tokens_of(item: str | list[int]) -> int:
    return len(item) if isinstance(item, list) else max(1, len(item.split()))


def vector(item: str | list[int], dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The vector of one input: float32-exact values in [-1, 1)."""
    seed = item if isinstance(item, str) else ",".join(map(str, item))
    out: list[float] = []
    counter = 0
    while len(out) < dimensions:
        digest = hashlib.sha256(f"{counter}:{seed}".encode()).digest()
        out.extend((byte - 128) / 128 for byte in digest)
        counter += 1
    return out[:dimensions]


def encoded(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    items = inputs_of(body["input"])
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(items):
        values = vector(item, dimensions)
        data.append(
            {
                "object": "embedding",
                "index": index,
                "embedding": encoded(values) if as_base64 else values,
            }
        )
    tokens = sum(tokens_of(item) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
