"""OpenAI Chat Completions: the few facts the relay needs from requests, responses and
stream chunks. Pure functions; the full codec (IR) lives beside this once other formats
need translating."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"[DONE]"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


def check_request(payload: object) -> tuple[str, bool]:
    """Validate what the relay relies on; return ``(model, stream)``. Raises ValueError with
    a message for the client. Everything else passes through untouched."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' is required and must be a non-empty array")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f"'messages[{index}]' must be an object with a string 'role'")
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ValueError("'stream' must be a boolean")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise ValueError("'stream_options' must be an object")
    return model, stream


def wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def usage_from(obj: dict[str, Any]) -> Usage | None:
    """Read an OpenAI-style ``usage`` object (also DeepSeek's cache-hit field)."""
    usage = obj.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    reasoning = (
        completion_details.get("reasoning_tokens") if isinstance(completion_details, dict) else None
    )
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=_int(cached),
        reasoning_tokens=_int(reasoning),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ChunkRewriter:
    """Rewrites the data of stream chunks on their way to the client.

    Renames the upstream model back to the public one and drops the usage-only chunk when
    the gateway asked the upstream for usage that the client did not ask for. Records the
    usage it sees. Chunks that need neither pass as the same bytes.
    """

    __slots__ = ("_new", "_old", "_strip_usage", "usage")

    def __init__(self, upstream_model: str, public_model: str, strip_usage: bool) -> None:
        self._old = orjson.dumps(upstream_model) if upstream_model != public_model else b""
        self._new = orjson.dumps(public_model)
        self._strip_usage = strip_usage
        self.usage: Usage | None = None

    def rewrite(self, data: bytes) -> bytes | None:
        """The data to send for one chunk, or None to drop it."""
        if b'"usage"' in data and data != DONE:
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                return data
            if isinstance(chunk, dict):
                usage = usage_from(chunk)
                if usage is not None:
                    self.usage = usage
                    if self._strip_usage and not chunk.get("choices"):
                        return None
        if self._old:
            data = rename_model(data, self._old, self._new)
        return data


def rename_model(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the top-level ``"model": <old>`` of a JSON document given as bytes."""
    for pattern in (b'"model":' + old, b'"model": ' + old):
        if pattern in data:
            return data.replace(pattern, b'"model":' + new, 1)
    return data


def rewrite_response(
    body: bytes, upstream_model: str, public_model: str
) -> tuple[bytes, Usage | None]:
    """A non-stream response on its way to the client: usage read, model renamed."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, None
    if not isinstance(document, dict):
        return body, None
    usage = usage_from(document)
    if upstream_model != public_model and document.get("model") == upstream_model:
        document["model"] = public_model
        body = orjson.dumps(document)
    return body, usage
