"""The names the layers share: wire formats, endpoints and stream framings, as ``StrEnum``s
so that mypy checks every use and the relay never spells a format out.

A ``StrEnum`` member is its string (``WireFormat.OPENAI == "openai"``), so stored values and
JSON read back as members without a conversion table.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum


class WireFormat(StrEnum):
    """A request/response dialect a client or an upstream speaks."""

    OPENAI = "openai"  # OpenAI chat completions
    ANTHROPIC = "anthropic"  # Anthropic Messages
    GEMINI = "gemini"  # Gemini generateContent
    OPENAI_EMBEDDINGS = "openai_embeddings"  # OpenAI embeddings (whole answers only)
    GEMINI_EMBEDDING = "gemini_embedding"  # Gemini embedContent (one content; clients only)
    GEMINI_EMBEDDINGS = "gemini_embeddings"  # Gemini batchEmbedContents (whole answers only)
    OLLAMA = "ollama"  # Ollama's native /api/chat (upstreams only; streams as NDJSON)
    RESPONSES = "responses"  # OpenAI Responses
    RESPONSES_COMPACT = "responses_compact"  # OpenAI Responses compaction (whole answers)
    OPENAI_IMAGES = "openai_images"  # OpenAI images: generations (JSON), edits (multipart)
    GEMINI_IMAGES = "gemini_images"  # Gemini generateContent asked for IMAGE output
    DASHSCOPE_IMAGES = "dashscope_images"  # DashScope image synthesis: a task, polled
    RERANK = "rerank"  # Jina/Cohere-style rerank (whole answers only)
    DASHSCOPE_RERANK = "dashscope_rerank"  # DashScope's native text-rerank (upstreams only)
    SILICONFLOW_RERANK = "siliconflow_rerank"  # SiliconFlow's rerank (upstreams only)
    VIKING_RERANK = "viking_rerank"  # Volcengine knowledge-base rerank (upstreams only)
    OPENAI_SPEECH = "openai_speech"  # OpenAI text to speech: JSON in, audio bytes out
    OPENAI_TRANSCRIPTION = "openai_transcription"  # OpenAI transcriptions and translations


#: The chat dialects clients speak: each has a codec, so a chat call translates between
#: any two. ``OLLAMA`` has a codec too, but is spoken to upstreams only.
CHAT_FORMATS = (WireFormat.OPENAI, WireFormat.ANTHROPIC, WireFormat.GEMINI, WireFormat.RESPONSES)


class Endpoint(StrEnum):
    """What a call asks for; a channel declares the ones its upstream serves natively."""

    CHAT = "chat"
    RESPONSES = "responses"
    COMPACT = "compact"  # the Responses API's POST /responses/compact (see IMPLIED)
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    IMAGES = "images"
    AUDIO = "audio"
    VIDEO = "video"
    # The audio endpoint's operations: each has its own path and body upstream, so a call
    # routes by one of these; a channel declares (and a key is permitted) ``audio``.
    SPEECH = "audio_speech"
    TRANSCRIPTIONS = "audio_transcriptions"
    TRANSLATIONS = "audio_translations"


#: Endpoints served as asynchronous tasks (created, then polled): they have no wire format
#: of their own, and a channel serves one when its ``endpoints`` say so.
TASK_ENDPOINTS = frozenset({Endpoint.VIDEO})


class Framing(StrEnum):
    """How a streamed answer is cut into events on the wire."""

    SSE = "sse"  # text/event-stream
    JSON_ARRAY = "json_array"  # one JSON array, elements sent as they come (Gemini)
    NDJSON = "ndjson"  # one JSON document per line (Ollama)
    AWS_EVENTSTREAM = "aws_eventstream"  # application/vnd.amazon.eventstream (Bedrock)
    RAW = "raw"  # no events: bytes copied as they come (audio)


#: Endpoints that answer each other's calls: a chat-family call translates between them, so
#: a channel serving any one of them serves the call (a chat client reaches a model only a
#: Responses endpoint serves, and a Responses client every chat channel). Preferred first.
INTERCHANGEABLE: dict[Endpoint, tuple[Endpoint, ...]] = {
    Endpoint.CHAT: (Endpoint.CHAT, Endpoint.RESPONSES),
    Endpoint.RESPONSES: (Endpoint.RESPONSES, Endpoint.CHAT),
}


#: Endpoints no channel lists: each comes with the one named here (an upstream that serves
#: the Responses API serves its compaction too), natively only: nothing translates to them.
IMPLIED: dict[Endpoint, Endpoint] = {Endpoint.COMPACT: Endpoint.RESPONSES}


def _with_implied(served: Iterable[Endpoint]) -> set[Endpoint]:
    out = set(served)
    out.update(implied for implied, by in IMPLIED.items() if by in out)
    return out


#: Endpoints declared as one and called as several operations (see ``Endpoint.SPEECH``).
PARTS: dict[Endpoint, tuple[Endpoint, ...]] = {
    Endpoint.AUDIO: (Endpoint.SPEECH, Endpoint.TRANSCRIPTIONS, Endpoint.TRANSLATIONS),
}
#: The declared endpoint (and key permission) each operation belongs to.
WHOLE: dict[Endpoint, Endpoint] = {part: whole for whole, parts in PARTS.items() for part in parts}

#: The endpoints a channel may list (``endpoints``): neither an implied one nor an
#: operation of one declared as a whole.
DECLARABLE = tuple(
    endpoint for endpoint in Endpoint if endpoint not in IMPLIED and endpoint not in WHOLE
)


def with_parts(served: Iterable[Endpoint]) -> frozenset[Endpoint]:
    """``served`` with the operations of each endpoint in it (``audio``: speech...)."""
    out: set[Endpoint] = set()
    for endpoint in served:
        out.add(endpoint)
        out.update(PARTS.get(endpoint, ()))
    return frozenset(out)


def routable(served: Iterable[Endpoint]) -> frozenset[Endpoint]:
    """The endpoints whose calls a channel serving ``served`` natively can take."""
    out: set[Endpoint] = set()
    for endpoint in _with_implied(served):
        out.add(endpoint)
        out.update(INTERCHANGEABLE.get(endpoint, ()))
    return frozenset(out)


def upstream_endpoint(
    endpoint: Endpoint,
    client: WireFormat,
    served: Collection[Endpoint],
    formats: Mapping[Endpoint, WireFormat],
) -> Endpoint:
    """The endpoint of a channel (serving ``served``, speaking ``formats``) that a call on
    ``endpoint`` in the ``client`` format goes to: one that speaks the client's format
    (the bytes pass through), else the first of the call's family the channel serves (the
    IR translates). Raises ``LookupError`` when the channel serves none of them."""
    native = _with_implied(served)
    candidates = [
        e for e in INTERCHANGEABLE.get(endpoint, (endpoint,)) if e in native and e in formats
    ]
    for candidate in candidates:
        if formats[candidate] == client:
            return candidate
    if not candidates:
        raise LookupError(f"the channel serves no endpoint for a {endpoint} call")
    return candidates[0]
