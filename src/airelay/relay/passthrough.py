"""Same format on both sides: the upstream's bytes go to the client as they are, with the
model renamed back to its public name and the usage read on the way.

One small rewriter per format; each sees a stream event (SSE ``event:`` name and ``data:``
bytes) and returns the data to send, or None to drop the event.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from airelay.formats import openai_chat
from airelay.formats.openai_chat import ChunkRewriter, rename_model
from airelay.formats.usage import Usage, from_anthropic, from_gemini


class Rewriter(Protocol):
    @property
    def usage(self) -> Usage | None: ...

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        """Events seen before usage arrived, to count produced tokens if it never does."""
        ...

    def rewrite(self, name: str | None, data: bytes) -> bytes | None: ...


class OpenAIRewriter:
    """OpenAI chunks: see ``openai_chat.ChunkRewriter``."""

    __slots__ = ("_inner",)

    def __init__(self, upstream_model: str, public_model: str, strip_usage: bool) -> None:
        self._inner = ChunkRewriter(upstream_model, public_model, strip_usage)

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return [(None, data) for data in self._inner.kept]

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if data == openai_chat.DONE:
            return data
        return self._inner.rewrite(data)


class AnthropicRewriter:
    """Anthropic events: input usage in ``message_start``, output usage in ``message_delta``."""

    __slots__ = ("_new", "_old", "_usage", "kept", "usage")

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self._old = orjson.dumps(upstream_model) if upstream_model != public_model else b""
        self._new = orjson.dumps(public_model)
        self._usage: dict[str, Any] = {}
        self.usage: Usage | None = None
        self.kept: list[tuple[str | None, bytes]] = []

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if name == "message_start":
            message = _loads(data).get("message") or {}
            self._usage.update(message.get("usage") or {})
            if self._old:
                data = rename_model(data, self._old, self._new)
        elif name == "message_delta":
            self._usage.update(_loads(data).get("usage") or {})
            self.usage = from_anthropic(self._usage)
        elif self.usage is None:
            self.kept.append((name, data))
        return data


class GeminiRewriter:
    """Gemini chunks: the last ``usageMetadata`` is the call's usage."""

    __slots__ = ("kept", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.kept: list[tuple[str | None, bytes]] = []

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        self.kept.append((name, data))
        if b'"usageMetadata"' in data:
            metadata = _loads(data).get("usageMetadata")
            usage = from_gemini(metadata)
            if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
                self.usage = usage
        return data


def whole_usage(
    fmt: str, body: bytes, upstream_model: str, public_model: str
) -> tuple[bytes, Usage | None]:
    """A whole response of ``fmt``: its usage, and the body with the public model name."""
    if fmt == "openai":
        return openai_chat.rewrite_response(body, upstream_model, public_model)
    document = _loads(body)
    if fmt == "anthropic":
        if upstream_model != public_model and document.get("model") == upstream_model:
            document["model"] = public_model
            body = orjson.dumps(document)
        return body, from_anthropic(document.get("usage"))
    return body, from_gemini(document.get("usageMetadata"))


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
