"""How a stream is written to the client: server-sent events in the client format's style,
or (Gemini without ``alt=sse``) the elements of one JSON array.

The relay hands a ``ClientFramer`` events (name, data) to write, and a stream encoder's
output (whole SSE events in the client's format) to pass on; the framer puts them in the
client's framing.
"""

from __future__ import annotations

from typing import Protocol

from airelay.formats.framing import JsonArrayWriter, sse_events
from airelay.formats.names import Framing
from airelay.formats.wire import SseStyle


class ClientFramer(Protocol):
    #: The response's content type.
    content_type: str

    def passes(self, framing: Framing) -> bool:
        """Whether raw blocks of an upstream of the client's format, framed so, go out as
        they came (SSE to an SSE client)."""
        ...

    def frame(self, name: str | None, data: bytes) -> bytes:
        """One event, framed."""
        ...

    def encoded(self, sse: bytes) -> bytes:
        """A stream encoder's output (whole SSE events), framed."""
        ...

    def close(self) -> bytes:
        """What ends the framing (the array's ``]``), after the last event."""
        ...


class SseFramer:
    __slots__ = ("_end", "_named")

    content_type = "text/event-stream"

    def __init__(self, style: SseStyle) -> None:
        self._named = style.named
        self._end = style.end

    def frame(self, name: str | None, data: bytes) -> bytes:
        if self._named:
            return b"event: " + (name or "message").encode() + b"\ndata: " + data + self._end
        return b"data: " + data + self._end

    def passes(self, framing: Framing) -> bool:
        return framing is Framing.SSE

    def encoded(self, sse: bytes) -> bytes:
        return sse

    def close(self) -> bytes:
        return b""


class JsonArrayFramer:
    __slots__ = ("_writer",)

    content_type = "application/json"

    def __init__(self) -> None:
        self._writer = JsonArrayWriter()

    def frame(self, name: str | None, data: bytes) -> bytes:
        return self._writer.element(data)

    def passes(self, framing: Framing) -> bool:
        return False

    def encoded(self, sse: bytes) -> bytes:
        if not sse:
            return sse
        return b"".join(self._writer.element(data) for _, data in sse_events(sse))

    def close(self) -> bytes:
        return self._writer.close()


def client_framer(style: SseStyle, framing: Framing) -> ClientFramer:
    """The client's framer: SSE in its format's ``style``, or a JSON array."""
    return JsonArrayFramer() if framing is Framing.JSON_ARRAY else SseFramer(style)


def content_type(framing: Framing) -> str:
    return JsonArrayFramer.content_type if framing is Framing.JSON_ARRAY else "text/event-stream"
