"""The codec and the pass-through wire of each wire format, by name: ``wire`` for the chat
formats (codec, streams), ``body`` for every format (whole answers, pricing)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from airelay.formats import (
    anthropic_wire,
    dashscope_rerank,
    gemini_embeddings,
    gemini_wire,
    ollama_wire,
    openai_embeddings,
    openai_speech,
    openai_transcription,
    openai_wire,
    rerank,
    responses_compaction,
    responses_wire,
    siliconflow_rerank,
    transcription_stream,
    viking_rerank,
)
from airelay.formats.anthropic_codec import CODEC as ANTHROPIC
from airelay.formats.bridge import Bridge
from airelay.formats.codec import Codec
from airelay.formats.gemini_codec import CODEC as GEMINI
from airelay.formats.names import WireFormat
from airelay.formats.ollama_codec import CODEC as OLLAMA
from airelay.formats.openai_codec import CODEC as OPENAI
from airelay.formats.responses_codec import CODEC as RESPONSES
from airelay.formats.usage import Usage
from airelay.formats.wire import Body, Wire

CODECS: dict[WireFormat, Codec] = {
    WireFormat.OPENAI: OPENAI,
    WireFormat.ANTHROPIC: ANTHROPIC,
    WireFormat.GEMINI: GEMINI,
    WireFormat.OLLAMA: OLLAMA,
    WireFormat.RESPONSES: RESPONSES,
}
WIRES: dict[WireFormat, Wire] = {
    WireFormat.OPENAI: openai_wire.WIRE,
    WireFormat.ANTHROPIC: anthropic_wire.WIRE,
    WireFormat.GEMINI: gemini_wire.WIRE,
    WireFormat.OLLAMA: ollama_wire.WIRE,
    WireFormat.RESPONSES: responses_wire.WIRE,
}


def codec(name: WireFormat) -> Codec:
    return CODECS[name]


def wire(name: WireFormat) -> Wire:
    return WIRES[name]


BODIES: dict[WireFormat, Body] = {
    **WIRES,
    WireFormat.OPENAI_EMBEDDINGS: openai_embeddings.BODY,
    WireFormat.GEMINI_EMBEDDING: gemini_embeddings.SINGLE_BODY,
    WireFormat.GEMINI_EMBEDDINGS: gemini_embeddings.BATCH_BODY,
    WireFormat.RESPONSES_COMPACT: responses_compaction.BODY,
    WireFormat.RERANK: rerank.BODY,
    WireFormat.OPENAI_SPEECH: openai_speech.BODY,
    WireFormat.OPENAI_TRANSCRIPTION: openai_transcription.BODY,
}


def body(name: WireFormat) -> Body:
    return BODIES[name]


#: (client, upstream) formats of one non-chat endpoint that translate directly.
BRIDGES: dict[tuple[WireFormat, WireFormat], Bridge] = {
    (WireFormat.RERANK, WireFormat.DASHSCOPE_RERANK): dashscope_rerank.BRIDGE,
    (WireFormat.RERANK, WireFormat.SILICONFLOW_RERANK): siliconflow_rerank.BRIDGE,
    (WireFormat.RERANK, WireFormat.VIKING_RERANK): viking_rerank.BRIDGE,
    (WireFormat.GEMINI_EMBEDDING, WireFormat.GEMINI_EMBEDDINGS): gemini_embeddings.SINGLE_TO_BATCH,
    (WireFormat.GEMINI_EMBEDDING, WireFormat.OPENAI_EMBEDDINGS): gemini_embeddings.SINGLE_TO_OPENAI,
    (WireFormat.GEMINI_EMBEDDINGS, WireFormat.OPENAI_EMBEDDINGS): gemini_embeddings.BATCH_TO_OPENAI,
    (
        WireFormat.OPENAI_EMBEDDINGS,
        WireFormat.GEMINI_EMBEDDINGS,
    ): gemini_embeddings.OPENAI_TO_GEMINI,
}


def bridge(client: WireFormat, upstream: WireFormat) -> Bridge | None:
    return BRIDGES.get((client, upstream))


#: Formats whose whole answers are not JSON documents (audio; text, srt, vtt): the
#: upstream's content type goes to the client with them.
TYPED_ANSWERS = frozenset({WireFormat.OPENAI_SPEECH, WireFormat.OPENAI_TRANSCRIPTION})
#: Formats whose streamed answer is copied as its bytes come, never translated: audio, and
#: a streamed transcription's events (read on the side by its ``RawWatch``).
RAW_STREAMS = frozenset({WireFormat.OPENAI_SPEECH, WireFormat.OPENAI_TRANSCRIPTION})


class RawWatch(Protocol):
    """Reads a raw stream's bytes as they pass to the client: whether it completed, the
    usage it reported, a failure it reported, and how a cut one is ended for the client."""

    finished: bool
    usage: Usage | None
    failure: str | None

    def feed(self, chunk: bytes) -> None: ...
    def error_event(self, message: str) -> bytes: ...


#: Raw streams made of events: a fresh watch per call. Without one (audio bytes), a stream
#: is complete when the upstream ends it, and bills what its request tells.
RAW_WATCHES: dict[WireFormat, Callable[[], RawWatch]] = {
    WireFormat.OPENAI_TRANSCRIPTION: transcription_stream.TranscriptWatch,
}


#: Formats whose stream call an upstream may answer whole (a model that does not stream):
#: (the request's fields, the whole answer, its content type) -> the events the client's
#: stream would have carried (server-sent events), or None when that answer has no such
#: form. The call is billed on the whole answer.
WHOLE_AS_EVENTS: dict[WireFormat, Callable[[Mapping[str, Any], bytes, str], bytes | None]] = {
    WireFormat.OPENAI_TRANSCRIPTION: transcription_stream.events_of_whole,
}


def raw_watch(name: WireFormat) -> RawWatch | None:
    make = RAW_WATCHES.get(name)
    return None if make is None else make()
