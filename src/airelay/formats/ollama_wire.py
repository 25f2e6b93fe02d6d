"""Ollama's native chat API as the relay passes it through: see ``wire.Wire``.

Ollama is an upstream format only (no client speaks it to the gateway), so a call reaches
an Ollama channel translated through the IR; this object still gives the relay what it
asks of every chat format: the same-format rewrite (model renamed, ``stream`` written
out, since Ollama streams when it is absent), usage from ``prompt_eval_count`` and
``eval_count``, a stream complete at its parsed ``"done": true`` line, the error line.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.ollama_codec import CODEC
from airelay.formats.ollama_stream import decode_usage, encode_usage
from airelay.formats.passthrough import BLOCK, Renamer, json_object, loads_object, renamed
from airelay.formats.text import answer_text, request_text
from airelay.formats.usage import Usage
from airelay.formats.wire import Request, SseStyle

DONE_MARKS = (b'"done":true', b'"done": true')


def _is_done(data: bytes) -> bool:
    """Whether a line is the last of a stream: parsed, so that a model's text holding
    ``"done":true`` (escaped inside a string) never ends it."""
    if not any(mark in data for mark in DONE_MARKS):
        return False
    return loads_object(data).get("done") is True


class OllamaRewriter:
    """Ollama lines: the ``done`` line's counts are the call's usage; ``model`` is renamed
    back to the public name in every line."""

    __slots__ = ("_renamer", "usage")

    triggers: tuple[bytes, ...] = DONE_MARKS
    hold = False  # only the end waits for a billed usage

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self.usage: Usage | None = None
        self._renamer = Renamer(upstream_model, public_model)

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._renamer.kept

    def block(self, raw: bytes) -> bytes:
        self._renamer.keep(BLOCK, raw)
        return self._renamer.rename(raw)

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if self.usage is None:
            self._renamer.keep(name, data)
        if _is_done(data):
            self.usage = decode_usage(loads_object(data))
        return self._renamer.rename(data)

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """The ``done`` line carries the counts, as Ollama's does."""
        for index in range(len(held) - 1, -1, -1):
            name, data = held[index]
            line = loads_object(data)
            if line.get("done") is True:
                line["prompt_eval_count"] = usage.prompt_tokens
                line["eval_count"] = usage.completion_tokens
                return [*held[:index], (name, orjson.dumps(line)), *held[index + 1 :]]
        return held


class OllamaWire:
    name = WireFormat.OLLAMA
    codec = CODEC
    sse = SseStyle(named=False, end=b"\n")  # never a client's framing: lines, if ever
    inline_images_only = True  # ``images`` holds base64 data, never a URL
    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = True
    end_marks: tuple[bytes, ...] = DONE_MARKS

    def ends(self, name: str | None, data: bytes) -> bool:
        return _is_done(data)

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        payload = request.payload
        if upstream_model == request.model and payload.get("stream") is request.stream:
            return request.body
        return orjson.dumps({**payload, "model": upstream_model, "stream": request.stream})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        options = request.payload.get("options")
        predict = options.get("num_predict") if isinstance(options, dict) else None
        bounded = isinstance(predict, int) and not isinstance(predict, bool) and predict >= 0
        return (predict if bounded else None), 1

    def prompt_text(self, request: Request) -> str:
        return request_text(request.request_ir())

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """The counts, as Ollama's answers carry them."""
        document.update(encode_usage(usage))
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        usage = decode_usage(document)
        body = renamed(body, document, upstream_model, public_model)
        return body, usage, document

    def answer_text(self, document: dict[str, Any]) -> str:
        return answer_text(CODEC.decode_response(document))

    def rewriter(self, request: Request, upstream_model: str) -> OllamaRewriter:
        return OllamaRewriter(upstream_model, request.model)

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        return None, orjson.dumps(CODEC.error_body(502, message, None))


WIRE = OllamaWire()
