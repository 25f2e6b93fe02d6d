"""OpenAI Chat Completions as the relay passes it through: see ``wire.Wire``."""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats import openai_chat
from airelay.formats.names import WireFormat
from airelay.formats.openai_chat import DONE, ChunkRewriter
from airelay.formats.openai_codec import CODEC
from airelay.formats.openai_stream import encode_usage
from airelay.formats.passthrough import BLOCK, Renamer, first_event, json_object, renamed
from airelay.formats.text import answer_text
from airelay.formats.usage import Usage
from airelay.formats.wire import Request, SseStyle


class OpenAIRewriter:
    """OpenAI chunks: see ``openai_chat.ChunkRewriter``."""

    __slots__ = ("_inner", "_model", "_renamer", "_strip_usage")

    hold = False  # only the end waits for a billed usage
    triggers: tuple[bytes, ...] = (b'"usage":{', b'"usage": {')

    def __init__(self, upstream_model: str, public_model: str, strip_usage: bool) -> None:
        self._inner = ChunkRewriter(upstream_model, public_model, strip_usage)
        self._renamer = Renamer(upstream_model, public_model)
        self._model = public_model
        self._strip_usage = strip_usage

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
        if data == DONE:
            return data
        if self._inner.usage is None:
            self._renamer.keep(name, data)
        return self._inner.rewrite(data)

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """A usage-only chunk (``choices: []``), as OpenAI ends a stream, before ``[DONE]``:
        when the client asked for usage (``stream_options.include_usage``)."""
        if self._strip_usage:
            return held
        first = first_event(self._renamer.kept)
        chunk: dict[str, Any] = {
            "id": first.get("id") or "chatcmpl-relay",
            "object": "chat.completion.chunk",
            "created": first.get("created") or 0,
            "model": self._model,
            "choices": [],
            "usage": encode_usage(usage),
        }
        done = next((i for i, (_, data) in enumerate(held) if data == DONE), len(held))
        return [*held[:done], (None, orjson.dumps(chunk)), *held[done:]]


class OpenAIWire:
    name = WireFormat.OPENAI
    codec = CODEC
    sse = SseStyle(named=False, end=b"\n\n")
    inline_images_only = False
    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = True
    end_marks: tuple[bytes, ...] = (DONE,)

    def ends(self, name: str | None, data: bytes) -> bool:
        return data == DONE  # the whole data line; "[DONE]" inside a chunk's JSON is text

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        """The client's bytes, re-encoded only when something must change: the model name,
        and streams always ask for usage (the gateway meters every stream)."""
        needs_usage = request.stream and not request.wants_usage
        if upstream_model == request.model and not needs_usage:
            return request.body
        payload = request.payload
        if upstream_model == request.model and "stream_options" not in payload:
            # Append the field to the client's bytes rather than re-encode the whole body.
            body = request.body.rstrip()
            if body.endswith(b"}"):
                return body[:-1] + b',"stream_options":{"include_usage":true}}'
        changed = dict(payload)
        changed["model"] = upstream_model
        if needs_usage:
            options = payload.get("stream_options") or {}
            changed["stream_options"] = {**options, "include_usage": True}
        return orjson.dumps(changed)

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        # Read from the payload: an OpenAI call is relayed without decoding it to the IR.
        payload = request.payload
        return openai_chat.output_cap(payload), openai_chat.choice_count(payload)

    def prompt_text(self, request: Request) -> str:
        return openai_chat.prompt_text(request.payload)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """``usage``, as OpenAI's answers carry it."""
        document["usage"] = encode_usage(usage)
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        usage = openai_chat.usage_from(document)
        body = renamed(body, document, upstream_model, public_model)
        return body, usage, document

    def answer_text(self, document: dict[str, Any]) -> str:
        return answer_text(CODEC.decode_response(document))

    def rewriter(self, request: Request, upstream_model: str) -> OpenAIRewriter:
        return OpenAIRewriter(upstream_model, request.model, strip_usage=not request.wants_usage)

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        return None, orjson.dumps(CODEC.error_body(502, message, None))


WIRE = OpenAIWire()
