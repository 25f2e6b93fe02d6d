"""OpenAI embeddings (``POST /v1/embeddings``): the request's checks, and the ``Body`` the
relay passes through (see ``wire.Body``).

Request: ``model``; ``input`` as a string, a list of strings, a list of token ids or a list
of token-id lists (never empty, at most 2048 items); optional ``encoding_format``
(``float`` or ``base64``), ``dimensions`` (a positive integer) and ``user``. Other fields
pass through untouched (OpenAI-compatible upstreams add their own, such as ``input_type``).

Answer: ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
"model", "usage": {"prompt_tokens", "total_tokens"}}``. Embeddings produce no output
tokens: a call is priced on its input alone.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.passthrough import json_object, renamed
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

MAX_ITEMS = 2048
ENCODING_FORMATS = ("float", "base64")


def check_request(payload: Any) -> str:
    """The model of a valid request; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    _check_input(payload.get("input", _MISSING))
    encoding = payload.get("encoding_format")
    if encoding is not None and encoding not in ENCODING_FORMATS:
        raise ValueError("'encoding_format' must be 'float' or 'base64'")
    dimensions = payload.get("dimensions")
    if dimensions is not None and not (_is_int(dimensions) and dimensions >= 1):
        raise ValueError("'dimensions' must be a positive integer")
    user = payload.get("user")
    if user is not None and not isinstance(user, str):
        raise ValueError("'user' must be a string")
    return model


_MISSING = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_input(value: Any) -> None:
    if value is _MISSING:
        raise ValueError("'input' is required")
    if isinstance(value, str):
        if not value:
            raise ValueError("'input' cannot be an empty string")
        return
    if not isinstance(value, list) or not value:
        raise ValueError(
            "'input' must be a non-empty string, or a non-empty array of strings, of token "
            "ids or of token-id arrays"
        )
    if len(value) > MAX_ITEMS:
        raise ValueError(f"'input' must have at most {MAX_ITEMS} items")
    first = value[0]
    if isinstance(first, str):
        if not all(isinstance(item, str) and item for item in value):
            raise ValueError(
                "'input': every item of an array of strings must be a non-empty string"
            )
    elif _is_int(first):
        _check_tokens(value, "'input'")
    elif isinstance(first, list):
        for item in value:
            if not isinstance(item, list) or not item:
                raise ValueError("'input': every token-id array must be a non-empty array")
            _check_tokens(item, "'input'")
    else:
        raise ValueError("'input' items must be strings, token ids or token-id arrays")


def _check_tokens(items: list[Any], where: str) -> None:
    if not all(_is_int(t) and t >= 0 for t in items):
        raise ValueError(f"{where}: token ids must be non-negative integers")


def prompt_text(payload: dict[str, Any]) -> str:
    """The input's text, for an estimate: strings as they are; token ids written out, one
    word each (a written-out id is never fewer tokens than the one it stands for)."""
    value = payload.get("input")
    if isinstance(value, str):
        return value
    parts: list[str] = []
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, int):
            parts.append(str(item))
        elif isinstance(item, list):
            parts.append(" ".join(str(token) for token in item))
    return "\n".join(parts)


def usage_of(document: dict[str, Any]) -> Usage | None:
    """``usage.prompt_tokens`` (or ``total_tokens`` when that is all there is)."""
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    for name in ("prompt_tokens", "total_tokens"):
        tokens = usage.get(name)
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
            return Usage(prompt_tokens=tokens)
    return None


class EmbeddingsBody:
    """OpenAI embeddings, passed through: the model renamed, usage read from the answer."""

    name = WireFormat.OPENAI_EMBEDDINGS
    # A token id takes at least two bytes of the body (a digit and a comma or bracket).
    bytes_per_token = 2
    cache_writes = False

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        return orjson.dumps({**request.payload, "model": upstream_model})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return 0, 1  # no output tokens

    def prompt_text(self, request: Request) -> str:
        return prompt_text(request.payload)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """``usage``, as OpenAI's embeddings carry it (input only)."""
        document["usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "total_tokens": usage.prompt_tokens,
        }
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        if not isinstance(document.get("data"), list):
            raise ValueError("the answer has no 'data' list")
        body = renamed(body, document, upstream_model, public_model)
        return body, usage_of(document), document

    def answer_text(self, document: dict[str, Any]) -> str:
        return ""  # vectors: no generated text


BODY: EmbeddingsBody = EmbeddingsBody()
