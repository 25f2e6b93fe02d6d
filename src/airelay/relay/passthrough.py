"""Same format on both sides: the upstream's bytes go to the client as they are, with the
model renamed back to its public name and the usage read on the way.

One small rewriter per format. The fast path sees a block of whole events as raw bytes
(``block``): when nothing in it needs reading (no usage, no model field to rename back
that a byte replace cannot), the block goes out as it came, with C-speed checks only. A
block that holds what must be read goes the slow path: event by event (``rewrite``, which
sees an SSE ``event:`` name and ``data:`` bytes and returns the data to send, or None to
drop the event).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from airelay.formats import openai_chat
from airelay.formats.openai_chat import ChunkRewriter
from airelay.formats.usage import Usage, from_anthropic, from_gemini
from airelay.relay.scrub import ERROR_MARK


class Rewriter(Protocol):
    @property
    def usage(self) -> Usage | None: ...

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        """What passed before usage arrived, in order, to count the produced tokens if it
        never does: events as (name, data), and fast-path blocks as (BLOCK, raw bytes)."""
        ...

    #: Byte strings that mark an event the slow path must read (``ERROR_MARK`` among them:
    #: an error event is scrubbed there).
    triggers: tuple[bytes, ...]

    def block(self, raw: bytes) -> bytes:
        """A raw block with no trigger in it, as it goes to the client."""
        ...

    def rewrite(self, name: str | None, data: bytes) -> bytes | None: ...


# The name under which a fast-path block is kept among events.
BLOCK = "\x00block"


class _Renamer:
    """Renames ``"model": <upstream>`` to the public name in raw bytes, and keeps what
    passed (by reference, bounded) until usage arrives."""

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self.patterns: tuple[tuple[bytes, bytes], ...] = ()
        if upstream_model != public_model:
            old, new = orjson.dumps(upstream_model), orjson.dumps(public_model)
            self.patterns = (
                (b'"model":' + old, b'"model":' + new),
                (b'"model": ' + old, b'"model": ' + new),
            )
        self.kept: list[tuple[str | None, bytes]] = []
        self._kept_bytes = 0

    def rename(self, raw: bytes) -> bytes:
        for old, new in self.patterns:
            if old in raw:
                raw = raw.replace(old, new)
        return raw

    def keep(self, name: str | None, raw: bytes) -> None:
        if self._kept_bytes < openai_chat.KEEP_LIMIT_BYTES:
            self.kept.append((name, raw))
            self._kept_bytes += len(raw)


class OpenAIRewriter:
    """OpenAI chunks: see ``openai_chat.ChunkRewriter``."""

    __slots__ = ("_inner", "_renamer")

    def __init__(self, upstream_model: str, public_model: str, strip_usage: bool) -> None:
        self._inner = ChunkRewriter(upstream_model, public_model, strip_usage)
        self._renamer = _Renamer(upstream_model, public_model)

    triggers: tuple[bytes, ...] = (b'"usage":{', b'"usage": {', ERROR_MARK)

    def block(self, raw: bytes) -> bytes:
        if self._inner.usage is None:
            self._renamer.keep(BLOCK, raw)
        return self._renamer.rename(raw)

    @property
    def usage(self) -> Usage | None:
        return self._inner.usage

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._renamer.kept

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if data == openai_chat.DONE:
            return data
        if self._inner.usage is None:
            self._renamer.keep(name, data)
        return self._inner.rewrite(data)


class AnthropicRewriter:
    """Anthropic events: input usage in ``message_start``, output usage in ``message_delta``."""

    __slots__ = ("_renamer", "_usage", "usage")

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self._renamer = _Renamer(upstream_model, public_model)
        self._usage: dict[str, Any] = {}
        self.usage: Usage | None = None

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._renamer.kept

    triggers: tuple[bytes, ...] = (b"message_start", b"message_delta", ERROR_MARK)

    def block(self, raw: bytes) -> bytes:
        if self.usage is None:
            self._renamer.keep(BLOCK, raw)
        return raw

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if name == "message_start":
            message = _loads(data).get("message") or {}
            self._usage.update(message.get("usage") or {})
            data = self._renamer.rename(data)
        elif name == "message_delta":
            self._usage.update(_loads(data).get("usage") or {})
            self.usage = from_anthropic(self._usage)
        elif self.usage is None:
            self._renamer.keep(name, data)
        return data


class GeminiRewriter:
    """Gemini chunks: the last ``usageMetadata`` is the call's usage."""

    __slots__ = ("_keeper", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._keeper = _Renamer("", "")

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._keeper.kept

    triggers: tuple[bytes, ...] = (b'"usageMetadata"', b'"finishReason"', ERROR_MARK)

    def block(self, raw: bytes) -> bytes:
        self._keeper.keep(BLOCK, raw)
        return raw

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        self._keeper.keep(name, data)
        if b'"usageMetadata"' in data:
            metadata = _loads(data).get("usageMetadata")
            usage = from_gemini(metadata)
            if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
                self.usage = usage
        return data


def whole_usage(
    fmt: str, body: bytes, upstream_model: str, public_model: str
) -> tuple[bytes, Usage | None, dict[str, Any]]:
    """A whole response of ``fmt``, parsed once: the body with the public model name, its
    usage, and the parsed document (to count the answer when no usage came).

    Raises ``ValueError`` for a body that is not a JSON object: the caller tries the next
    channel rather than pass on bytes no SDK can read.
    """
    document = orjson.loads(body)  # orjson.JSONDecodeError is a ValueError
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    if fmt == "openai":
        usage = openai_chat.usage_from(document)
    elif fmt == "anthropic":
        usage = from_anthropic(document.get("usage"))
    else:
        return body, from_gemini(document.get("usageMetadata")), document
    if upstream_model != public_model and document.get("model") == upstream_model:
        document["model"] = public_model
        body = orjson.dumps(document)
    return body, usage, document


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
