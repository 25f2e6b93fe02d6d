"""Anthropic Messages as the relay passes it through: see ``wire.Wire``."""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.anthropic_codec import CODEC
from airelay.formats.anthropic_stream import encode_usage
from airelay.formats.names import WireFormat
from airelay.formats.passthrough import BLOCK, Renamer, json_object, loads_object, renamed
from airelay.formats.text import answer_text, request_text
from airelay.formats.usage import Usage, from_anthropic
from airelay.formats.wire import Request, SseStyle

STOP = "message_stop"
STOP_MARK = STOP.encode()


class AnthropicRewriter:
    """Anthropic events: input usage in ``message_start``, output usage in ``message_delta``."""

    __slots__ = ("_renamer", "_stop", "_usage", "hold", "usage")

    triggers: tuple[bytes, ...] = (b"message_start", b"message_delta")

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self._renamer = Renamer(upstream_model, public_model)
        self._usage: dict[str, Any] = {}
        self._stop: object = "end_turn"  # message_delta's stop_reason, to repeat it
        self.usage: Usage | None = None
        self.hold = False

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._renamer.kept

    def block(self, raw: bytes) -> bytes:
        if self.usage is None:
            self._renamer.keep(BLOCK, raw)
        return raw

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if name == "message_start":
            message = loads_object(data).get("message") or {}
            self._usage.update(message.get("usage") or {})
            data = self._renamer.rename(data)
        elif name == "message_delta":
            event = loads_object(data)
            self._usage.update(event.get("usage") or {})
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self._stop = delta["stop_reason"]
            # An upstream that counted nothing (no counts, or only zeros: a real call has
            # input) reported no usage; its message_delta waits for the billed one.
            usage = from_anthropic(self._usage)
            if usage is not None and (usage.prompt_tokens or usage.completion_tokens):
                self.usage = usage
            else:
                self.hold = True
                self._renamer.keep(name, data)
        elif self.usage is None:
            self._renamer.keep(name, data)
        return data

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """The held ``message_delta`` with the usage, or one before ``message_stop`` if
        none came."""
        counts = encode_usage(usage)
        for index, (name, data) in enumerate(held):
            if name == "message_delta":
                event = loads_object(data)
                event["usage"] = {**(event.get("usage") or {}), **counts}
                return [*held[:index], (name, orjson.dumps(event)), *held[index + 1 :]]
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop, "stop_sequence": None},
            "usage": counts,
        }
        return [("message_delta", orjson.dumps(delta)), *held]


class AnthropicWire:
    name = WireFormat.ANTHROPIC
    codec = CODEC
    sse = SseStyle(named=True, end=b"\n\n")
    inline_images_only = False
    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = True
    end_marks: tuple[bytes, ...] = (STOP_MARK,)

    def ends(self, name: str | None, data: bytes) -> bool:
        if name is not None:
            return name == STOP
        # An event framed without a name: its ``type`` says, parsed only when it may.
        return STOP_MARK in data and loads_object(data).get("type") == STOP

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        changed = dict(request.payload)
        changed["model"] = upstream_model
        return orjson.dumps(changed)

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        ir = request.request_ir()
        return ir.max_tokens, ir.n or 1

    def prompt_text(self, request: Request) -> str:
        return request_text(request.request_ir())

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """``usage``, as Anthropic's answers carry it."""
        document["usage"] = encode_usage(usage)
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        usage = from_anthropic(document.get("usage"))
        body = renamed(body, document, upstream_model, public_model)
        return body, usage, document

    def answer_text(self, document: dict[str, Any]) -> str:
        return answer_text(CODEC.decode_response(document))

    def rewriter(self, request: Request, upstream_model: str) -> AnthropicRewriter:
        return AnthropicRewriter(upstream_model, request.model)

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        return "error", orjson.dumps(CODEC.error_body(502, message, None))


WIRE = AnthropicWire()
