"""A chat call as the client made it: what a surface hands the relay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airelay.formats.ir import ChatRequest
from airelay.formats.names import Framing, WireFormat
from airelay.formats.registry import codec


@dataclass(slots=True)
class ChatCall:
    """What a surface hands the relay: the call as the client made it."""

    client: WireFormat  # the client's wire format
    model: str  # the public model name
    stream: bool
    body: bytes  # the client's request body, as received
    payload: dict[str, Any]  # ... parsed
    ir: ChatRequest | None  # ... decoded, when the surface needed to (non-OpenAI clients)
    endpoint: str
    request_id: str
    framing: Framing = Framing.SSE  # how the client reads a stream (Gemini: maybe a JSON array)
    wants_usage: bool = False  # OpenAI's stream_options.include_usage

    def request_ir(self) -> ChatRequest:
        if self.ir is None:
            self.ir = codec(self.client).decode_request(self.payload)
        return self.ir
