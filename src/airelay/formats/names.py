"""The names the layers share: wire formats, endpoints and stream framings, as ``StrEnum``s
so that mypy checks every use and the relay never spells a format out.

A ``StrEnum`` member is its string (``WireFormat.OPENAI == "openai"``), so stored values and
JSON read back as members without a conversion table.
"""

from __future__ import annotations

from enum import StrEnum


class WireFormat(StrEnum):
    """A request/response dialect a client or an upstream speaks."""

    OPENAI = "openai"  # OpenAI chat completions
    ANTHROPIC = "anthropic"  # Anthropic Messages
    GEMINI = "gemini"  # Gemini generateContent
    OPENAI_EMBEDDINGS = "openai_embeddings"  # OpenAI embeddings (whole answers only)
    OLLAMA = "ollama"  # Ollama's native /api/chat (upstreams only; streams as NDJSON)


#: The chat dialects clients speak: each has a codec, so a chat call translates between
#: any two. ``OLLAMA`` has a codec too, but is spoken to upstreams only.
CHAT_FORMATS = (WireFormat.OPENAI, WireFormat.ANTHROPIC, WireFormat.GEMINI)


class Endpoint(StrEnum):
    """What a call asks for; a channel declares the ones its upstream serves natively."""

    CHAT = "chat"
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    IMAGES = "images"
    AUDIO = "audio"
    VIDEO = "video"


class Framing(StrEnum):
    """How a streamed answer is cut into events on the wire."""

    SSE = "sse"  # text/event-stream
    JSON_ARRAY = "json_array"  # one JSON array, elements sent as they come (Gemini)
    NDJSON = "ndjson"  # one JSON document per line (Ollama)
    AWS_EVENTSTREAM = "aws_eventstream"  # application/vnd.amazon.eventstream (Bedrock)
