"""OpenAI Responses as the relay passes it through: see ``wire.Wire``.

A Responses stream reports its usage once, in its terminal event (``response.completed``,
``response.incomplete`` or ``response.failed``), inside the whole response object; the
model name shows in every lifecycle event's response object. Requests are read from the
payload, never decoded to the IR, so that a call a Responses upstream serves passes
through whatever it holds (built-in tools included).
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.passthrough import BLOCK, Renamer, json_object, loads_object, renamed
from airelay.formats.responses_codec import CODEC
from airelay.formats.responses_shapes import (
    END_EVENTS,
    TERMINAL_EVENTS,
    decode_usage,
    encode_usage,
)
from airelay.formats.text import answer_text
from airelay.formats.usage import Usage
from airelay.formats.wire import Request, SseStyle

_END_MARKS = tuple(kind.encode() for kind in sorted(END_EVENTS))


class ResponsesRewriter:
    """Responses events: the model renamed back in raw bytes, the usage read from the
    terminal event (the only one whose data holds ``"usage":{``)."""

    __slots__ = ("_renamer", "usage")

    triggers: tuple[bytes, ...] = (b'"usage":{', b'"usage": {')
    hold = False  # only the end waits for a billed usage

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self._renamer = Renamer(upstream_model, public_model)
        self.usage: Usage | None = None

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        return self._renamer.kept

    def block(self, raw: bytes) -> bytes:
        if self.usage is None:
            self._renamer.keep(BLOCK, raw)
        return self._renamer.rename(raw)

    def rewrite(self, name: str | None, data: bytes) -> bytes | None:
        if name in TERMINAL_EVENTS or name is None:
            event = loads_object(data)
            if str(event.get("type")) in TERMINAL_EVENTS:
                response = event.get("response")
                if isinstance(response, dict):
                    usage = decode_usage(response.get("usage"))
                    if usage is not None:
                        self.usage = usage
        if self.usage is None:
            self._renamer.keep(name, data)
        return self._renamer.rename(data)

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """The terminal event's response carries the usage, as OpenAI's does."""
        for index in range(len(held) - 1, -1, -1):
            name, data = held[index]
            event = loads_object(data)
            response = event.get("response")
            if str(event.get("type")) in TERMINAL_EVENTS and isinstance(response, dict):
                event["response"] = {**response, "usage": encode_usage(usage)}
                return [*held[:index], (name, orjson.dumps(event)), *held[index + 1 :]]
        return held


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        part["text"]
        for part in content
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


def prompt_text(payload: dict[str, Any]) -> str:
    """The text of the instructions, input items and tool definitions, for an offline
    token estimate."""
    parts: list[str] = []
    instructions = payload.get("instructions")
    if isinstance(instructions, str):
        parts.append(instructions)
    items = payload.get("input")
    if isinstance(items, str):
        parts.append(items)
    elif isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                continue
            parts += _texts(item.get("content"))
            parts += _texts(item.get("output"))
            parts += _texts(item.get("summary"))
            for key in ("arguments", "input"):
                if isinstance(item.get(key), str):
                    parts.append(item[key])
    if payload.get("tools"):
        parts.append(orjson.dumps(payload["tools"]).decode())
    return "\n".join(parts)


class ResponsesWire:
    name = WireFormat.RESPONSES
    codec = CODEC
    sse = SseStyle(named=True, end=b"\n\n")
    inline_images_only = False
    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = True
    end_marks: tuple[bytes, ...] = _END_MARKS

    def ends(self, name: str | None, data: bytes) -> bool:
        if name is not None:
            return name in END_EVENTS
        return any(mark in data for mark in _END_MARKS) and (
            str(loads_object(data).get("type")) in END_EVENTS
        )

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        """The client's bytes; re-encoded only to rename the model (a Responses stream
        always reports usage)."""
        if upstream_model == request.model:
            return request.body
        changed = dict(request.payload)
        changed["model"] = upstream_model
        return orjson.dumps(changed)

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        cap = request.payload.get("max_output_tokens")
        valid = isinstance(cap, int) and not isinstance(cap, bool) and cap > 0
        return (cap if valid else None), 1

    def prompt_text(self, request: Request) -> str:
        return prompt_text(request.payload)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """``usage``, as the Responses API's answers carry it."""
        document["usage"] = encode_usage(usage)
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        usage = decode_usage(document.get("usage"))
        body = renamed(body, document, upstream_model, public_model)
        return body, usage, document

    def answer_text(self, document: dict[str, Any]) -> str:
        return answer_text(CODEC.decode_response(document))

    def rewriter(self, request: Request, upstream_model: str) -> ResponsesRewriter:
        return ResponsesRewriter(upstream_model, request.model)

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        """OpenAI's stream ``error`` event (not a lifecycle event: it needs no response id
        the relay does not know)."""
        event = {
            "type": "error",
            "code": "server_error",
            "message": message,
            "param": None,
            "sequence_number": 0,
        }
        return "error", orjson.dumps(event)


WIRE = ResponsesWire()
