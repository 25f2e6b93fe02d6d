"""What every wire-format codec module offers (``openai_codec``, ``anthropic_codec``,
``gemini_codec``). Pure functions and small stateful stream translators; no I/O.

Request/response dicts are the parsed JSON bodies. ``decode_*`` raise ``ValueError`` with a
message fit for the client (the surface answers it as a 400 in the client's format).
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any, Protocol, cast

from airelay.formats.ir import ChatRequest, ChatResponse, StreamEvent


class Untranslatable(ValueError):
    """A valid request that only an upstream of its own format can serve as it stands.

    ``lenient``, when set, is the request translated without the parts only that format
    can carry (a tool built into one provider's service, say): what a channel of another
    format gets when no channel of the client's own format serves the model."""

    def __init__(self, message: str, lenient: ChatRequest | None = None) -> None:
        super().__init__(message)
        self.lenient = lenient


class StreamDecoder(Protocol):
    """Upstream stream -> IR events. Fed one parsed event at a time: ``name`` is the SSE
    ``event:`` field (Anthropic) or None, ``data`` the parsed JSON of its ``data:``."""

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]: ...

    def close(self) -> list[StreamEvent]:
        """The upstream stream ended; events still owed (a missing Finish, say)."""
        ...


class MarkedStreamDecoder(StreamDecoder, Protocol):
    """A decoder of a format with end markers that are no JSON (OpenAI's ``[DONE]``): the
    events whose data is one decode to nothing, and are skipped unparsed."""

    unparsed: tuple[bytes, ...]


class FramedStreamDecoder(StreamDecoder, Protocol):
    """A decoder whose text deltas may be read by their frame (``text_frames``)."""

    def text_frame(self, name: str | None, data: Any) -> bool:
        """Whether an event that decoded to one text delta, with any other non-empty text
        in the place of its own, would decode to that text's delta and change nothing else
        in the decoder."""
        ...


class StreamEncoder(Protocol):
    """IR events -> the client's wire bytes: complete SSE events (``event:``/``data:`` lines
    and the blank line), or, for Gemini's JSON-array mode, array elements."""

    def encode(self, event: StreamEvent) -> bytes: ...

    def close(self) -> bytes:
        """Bytes that end the stream (``data: [DONE]``, ``message_stop``...)."""
        ...


class TextStreamEncoder(StreamEncoder, Protocol):
    """An encoder that writes the bulk of a stream, text deltas, without making IR events."""

    def encode_text(self, text: str, choice: int = 0) -> bytes:
        """``encode(TextDelta(text, choice))``."""
        ...

    def encode_plain(self, texts: list[bytes], text: str, choice: int = 0) -> bytes | None:
        """``encode_text`` of each text of ``texts``, given as the bytes of a JSON string
        without its quotes that holds no escape (the text's UTF-8), ``text`` being them
        joined; None when the encoder is not in the state where that is plain (the caller
        then calls ``encode_text`` for each)."""
        ...


class Codec(Protocol):
    name: str

    def decode_request(
        self, body: Any, *, model: str | None = None, stream: bool = False
    ) -> ChatRequest:
        """``model``/``stream`` come from the URL for Gemini; the body for the others."""
        ...

    def encode_request(self, request: ChatRequest) -> dict[str, Any]: ...

    def decode_response(self, body: Any) -> ChatResponse: ...

    def encode_response(
        self, response: ChatResponse, request: ChatRequest | None = None
    ) -> dict[str, Any]:
        """``request``: the call's request, for a format whose answer repeats it or depends
        on it (a Responses answer names custom tool calls and echoes the settings)."""
        ...

    def stream_decoder(self) -> StreamDecoder: ...

    def stream_encoder(self, request: ChatRequest) -> StreamEncoder: ...

    def error_body(self, status: int, message: str, type_: str | None = None) -> dict[str, Any]:
        """The format's own error shape, so its SDK raises its own typed exception."""
        ...


class ModuleCodec:
    """A codec module's functions as the ``Codec`` object the registry hands out."""

    def __init__(self, name: str, module: ModuleType) -> None:
        self.name = name
        self.decode_request = module.decode_request
        self.encode_request = module.encode_request
        self.decode_response = module.decode_response
        encode = module.encode_response
        if len(inspect.signature(encode).parameters) > 1:
            self.encode_response = encode
        else:  # a format whose answer does not depend on the request

            def encode_response(response: ChatResponse, request: Any = None) -> dict[str, Any]:
                return encode(response)  # type: ignore[no-any-return]

            self.encode_response = encode_response
        self.stream_decoder = module.stream_decoder
        self.stream_encoder = module.stream_encoder
        self.error_body = module.error_body


def module_codec(name: str, module: ModuleType) -> Codec:
    return cast(Codec, ModuleCodec(name, module))
