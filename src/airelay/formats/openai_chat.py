"""OpenAI Chat Completions: the few facts the relay needs from requests, responses and
stream chunks. Pure functions; the full codec (IR) lives beside this once other formats
need translating."""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.usage import Usage, from_openai

DONE = b"[DONE]"


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
    """The usage of a response or chunk, if it carries one."""
    return from_openai(obj.get("usage"))


def output_cap(payload: dict[str, Any]) -> int | None:
    """The most output tokens the request allows, if it says."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def choice_count(payload: dict[str, Any]) -> int:
    value = payload.get("n")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1


def prompt_text(payload: dict[str, Any]) -> str:
    """The text of the messages (and tool definitions), for an offline token estimate."""
    parts: list[str] = []
    for message in payload.get("messages") or ():
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                parts.append(orjson.dumps(call.get("function")).decode())
    if payload.get("tools"):
        parts.append(orjson.dumps(payload["tools"]).decode())
    return "\n".join(parts)


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
        if data.find(b'"usage"') >= 0 and data != DONE:  # (not ``in``: see formats.sse)
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
        if data.find(pattern) >= 0:
            return data.replace(pattern, b'"model":' + new, 1)
    return data
