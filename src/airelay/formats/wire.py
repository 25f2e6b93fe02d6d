"""What the relay needs of a wire format beyond its codec, as one object per format
(``registry.wire(fmt)``, ``registry.body(fmt)``): everything it used to switch on by format name.

A ``Body`` is what every endpoint's format has: the same-format request rewrite, the
call's bounds and prompt text (pricing), and whole answers passed through (usage, model
rename). A ``Wire`` is a chat format's: a ``Body`` with a codec and streams.

A ``Wire`` adds, for its format: the stream ``Rewriter`` of a pass-through, when a stream
is complete (by parsing the event that may end it), its error event, and how
it writes server-sent events. The relay loops over these and never names a format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from airelay.formats.codec import Codec
from airelay.formats.ir import ChatRequest
from airelay.formats.names import WireFormat
from airelay.formats.passthrough import Rewriter
from airelay.formats.usage import Usage


class Request(Protocol):
    """The client's call as a wire reads it (the relay's ``Call`` is one)."""

    @property
    def model(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def body(self) -> bytes: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def wants_usage(self) -> bool: ...
    def request_ir(self) -> ChatRequest: ...


@dataclass(frozen=True, slots=True)
class SseStyle:
    """How a format writes a server-sent event."""

    named: bool  # an ``event:`` line before the data (Anthropic)
    end: bytes  # what ends an event: ``\\n\\n``, or ``\\r\\n\\r\\n`` as Google sends them


class Body(Protocol):
    """What the relay needs of any format to pass a whole answer through and price it:
    the subset every endpoint's format has (an embeddings answer never streams)."""

    name: WireFormat
    #: The fewest bytes of a request body one prompt token takes: a reservation bounds the
    #: prompt by the body's length divided by this.
    bytes_per_token: int
    #: Whether an answer may report prompt-cache writes, priced above uncached input: the
    #: reservation then prices the prompt at the dearest input-side price.
    cache_writes: bool

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        """The client's bytes for an upstream of the same format, changed only where the
        gateway must (the model name, usage in streams)."""
        ...

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        """The most output tokens per choice the call allows (None: unbounded), and the
        number of choices: what a reservation prices."""
        ...

    def prompt_text(self, request: Request) -> str:
        """The prompt's text, for an offline estimate when the upstream reports no usage."""
        ...

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        """A whole answer that came without usage, carrying ``usage`` (the gateway's count,
        which it bills) in the format's own fields."""
        ...

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        """A whole answer of this format, parsed once: the body with the public model
        name, its usage, and the parsed document. Raises ``ValueError`` for a body that is
        not a JSON object."""
        ...

    def answer_text(self, document: dict[str, Any]) -> str:
        """What a parsed whole answer generated, for an estimate when it reports no usage."""
        ...


class Wire(Body, Protocol):
    """A chat format: a ``Body`` with a codec, and streams."""

    codec: Codec
    sse: SseStyle
    #: The format takes images inline only: remote image URLs are fetched before a call
    #: is translated into it.
    inline_images_only: bool
    #: Byte strings in a raw block that may mark the end of a stream: the event holding
    #: one is parsed (``ends``) to know; one in the model's text is not an end.
    end_marks: tuple[bytes, ...]

    def ends(self, name: str | None, data: bytes) -> bool:
        """Whether this event completes the stream (parsed, never a substring test)."""
        ...

    def rewriter(self, request: Request, upstream_model: str) -> Rewriter:
        """A pass-through stream's rewriter for this call."""
        ...

    def error_event(self, message: str) -> tuple[str | None, bytes]:
        """The event (name, data) that ends a failed stream in this format's error shape,
        so that the client's SDK raises its own error."""
        ...
