"""Gemini generateContent as the relay passes it through: see ``wire.Wire``."""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.gemini_codec import CODEC
from airelay.formats.gemini_stream import encode_usage
from airelay.formats.names import WireFormat
from airelay.formats.passthrough import BLOCK, Renamer, json_object, loads_object
from airelay.formats.text import answer_text, request_text
from airelay.formats.usage import Usage, from_gemini
from airelay.formats.wire import Request, SseStyle

FINISH = b'"finishReason"'
USAGE = b'"usageMetadata"'


class GeminiRewriter:
    """Gemini chunks: the last ``usageMetadata`` is the call's usage. The model is named in
    the URL, not the body: nothing to rename."""

    __slots__ = ("_keeper", "usage")

    hold = False  # only the end waits for a billed usage
    triggers: tuple[bytes, ...] = (USAGE,)

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._keeper = Renamer("", "")

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._keeper.kept

    def block(self, raw: bytes) -> bytes:
        self._keeper.keep(BLOCK, raw)
        return raw

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        self._keeper.keep(name, data)
        if USAGE in data:
            usage = from_gemini(loads_object(data).get("usageMetadata"))
            if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
                self.usage = usage
        return data

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """The last chunk carries ``usageMetadata``, as Google's does."""
        for index in range(len(held) - 1, -1, -1):
            name, data = held[index]
            chunk = loads_object(data)
            if chunk:
                chunk["usageMetadata"] = encode_usage(usage)
                return [*held[:index], (name, orjson.dumps(chunk)), *held[index + 1 :]]
        return held


class GeminiWire:
    name = WireFormat.GEMINI
    codec = CODEC
    sse = SseStyle(named=False, end=b"\r\n\r\n")
    inline_images_only = True
    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = True
    end_marks: tuple[bytes, ...] = (FINISH,)

    def ends(self, name: str | None, data: bytes) -> bool:
        """A chunk whose candidates carry a ``finishReason`` (the last one), or that says
        the prompt was blocked (no candidates then)."""
        if FINISH not in data and b'"blockReason"' not in data:
            return False
        chunk = loads_object(data)
        candidates = chunk.get("candidates")
        if isinstance(candidates, list) and candidates:
            return any(
                isinstance(candidate, dict) and bool(candidate.get("finishReason"))
                for candidate in candidates
            )
        feedback = chunk.get("promptFeedback")
        return isinstance(feedback, dict) and bool(feedback.get("blockReason"))

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        return request.body  # the model is in the URL; streams always report usage

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        ir = request.request_ir()
        return ir.max_tokens, ir.n or 1

    def prompt_text(self, request: Request) -> str:
        return request_text(request.request_ir())

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """``usageMetadata``, as Google's answers carry it."""
        document["usageMetadata"] = encode_usage(usage)
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        return body, from_gemini(document.get("usageMetadata")), document

    def answer_text(self, document: dict[str, Any]) -> str:
        return answer_text(CODEC.decode_response(document))

    def rewriter(self, request: Request, upstream_model: str) -> GeminiRewriter:
        return GeminiRewriter()

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        return None, orjson.dumps(CODEC.error_body(502, message, None))


WIRE = GeminiWire()
