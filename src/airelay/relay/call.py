"""A call as the client made it: what a surface hands the relay, for any endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from airelay.formats.ir import ChatRequest
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.formats.registry import codec
from airelay.formats.usage import Usage
from airelay.providers.base import ClientExtras
from airelay.relay.thinking import ThinkingPolicy

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(slots=True)
class Call:
    """What a surface hands the relay: the call as the client made it.

    ``endpoint`` routes it (the channels that serve that endpoint for the model) and
    ``client`` is the format of its bodies; a channel whose format on that endpoint is the
    same gets the bytes passed through, otherwise (chat only) the IR translates."""

    client: WireFormat  # the format of the client's bodies
    endpoint: Endpoint  # what the call asks for: routing, the provider's URL
    model: str  # the public model name
    stream: bool
    body: bytes  # the client's request body, as received
    payload: dict[str, Any]  # ... parsed
    ir: ChatRequest | None  # ... decoded, when the surface needed to (non-OpenAI clients)
    path: str  # the route, as the usage row records it (``/v1/chat/completions``)
    request_id: str
    framing: Framing = Framing.SSE  # how the client reads a stream (Gemini: maybe a JSON array)
    wants_usage: bool = False  # OpenAI's stream_options.include_usage
    # Header fields and query the client sent that an upstream may need (None: none);
    # each channel's provider decides what of it goes on (``Provider.forward``).
    extras: ClientExtras | None = None
    # The client's request headers (case-insensitive where the surface passes aiohttp's):
    # what the formats read beside the body, such as a session header for affinity.
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    # The ``x-ratelimit-*`` headers the limit stage found for the call: the client's
    # response carries them.
    limit_headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    # Set by the relay: what a translated attempt does with thinking (None: nothing).
    thinking: ThinkingPolicy | None = None
    # What the call bills that its request tells (speech: the characters; a transcription:
    # the file's measured seconds): reserved exactly, and billed when the answer reports
    # nothing of its own.
    known: Usage | None = None
    # The client's body type when it is not JSON (a form, with its boundary): sent upstream
    # with the body, which passes through as it came.
    content_type: str | None = None

    def request_ir(self) -> ChatRequest:
        """The chat request in the IR (a chat call translated for another format)."""
        if self.ir is None:
            self.ir = codec(self.client).decode_request(self.payload)
        return self.ir
