"""The codec and the pass-through wire of each wire format, by name: ``wire`` for the chat
formats (codec, streams), ``body`` for every format (whole answers, pricing)."""

from __future__ import annotations

from airelay.formats import (
    anthropic_wire,
    dashscope_rerank,
    gemini_wire,
    ollama_wire,
    openai_embeddings,
    openai_speech,
    openai_transcription,
    openai_wire,
    rerank,
    responses_compaction,
    responses_wire,
)
from airelay.formats.anthropic_codec import CODEC as ANTHROPIC
from airelay.formats.bridge import Bridge
from airelay.formats.codec import Codec
from airelay.formats.gemini_codec import CODEC as GEMINI
from airelay.formats.names import WireFormat
from airelay.formats.ollama_codec import CODEC as OLLAMA
from airelay.formats.openai_codec import CODEC as OPENAI
from airelay.formats.responses_codec import CODEC as RESPONSES
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
}


def bridge(client: WireFormat, upstream: WireFormat) -> Bridge | None:
    return BRIDGES.get((client, upstream))


#: Formats whose whole answers are not JSON documents (audio; text, srt, vtt): the
#: upstream's content type goes to the client with them.
TYPED_ANSWERS = frozenset({WireFormat.OPENAI_SPEECH, WireFormat.OPENAI_TRANSCRIPTION})
#: Formats whose answer is a stream of bytes copied as they come (audio), never events.
RAW_STREAMS = frozenset({WireFormat.OPENAI_SPEECH})
