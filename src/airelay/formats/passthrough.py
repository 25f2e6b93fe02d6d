"""Same format on both sides: the upstream's bytes go to the client as they are, with the
model renamed back to its public name and the usage read on the way.

One small ``Rewriter`` per format (in ``<format>_wire``). The relay's fast path sees a
block of whole SSE events as raw bytes (``block``): when nothing in it needs reading (no
usage, no model field to rename back that a byte replace cannot), the block goes out as it
came, with C-speed checks only. A block that holds what must be read goes the slow path:
event by event (``rewrite``, which sees an event's name and data bytes and returns the data
to send, or None to drop the event).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from airelay.formats import ir
from airelay.formats.codec import Codec
from airelay.formats.framing import sse_events
from airelay.formats.text import answer_text
from airelay.formats.usage import Usage

# Events kept per stream for counting tokens when no usage arrives; past this, the count
# is cut short (a stream that long has almost always sent usage).
KEEP_LIMIT_BYTES = 1 << 20

# The name under which a fast-path block is kept among events.
BLOCK = "\x00block"


class Rewriter(Protocol):
    @property
    def usage(self) -> Usage | None: ...

    @property
    def kept(self) -> list[tuple[str | None, bytes]]:
        """What passed before usage arrived, in order, to count the produced tokens if it
        never does: events as (name, data), and fast-path blocks as (BLOCK, raw bytes)."""
        ...

    #: Byte strings that mark an event the slow path must read (usage, a model field).
    triggers: tuple[bytes, ...]
    #: The event just rewritten must wait, with all that follows, for the usage the
    #: gateway bills (it is where the format puts usage, and the upstream put none).
    hold: bool

    def block(self, raw: bytes) -> bytes:
        """A raw block with no trigger in it, as it goes to the client."""
        ...

    def rewrite(self, name: str | None, data: bytes) -> bytes | None: ...

    def billed(
        self, held: list[tuple[str | None, bytes]], usage: Usage
    ) -> list[tuple[str | None, bytes]]:
        """The held end of a stream that brought no usage (from the event that must carry
        usage, or else the one that ended the stream, to the last, as (name, data)), now
        carrying ``usage`` (the gateway's count, which it bills) in the format's own fields."""
        ...


def first_event(kept: list[tuple[str | None, bytes]]) -> dict[str, Any]:
    """The first JSON object among what a rewriter kept (ids and times to repeat in an
    event the gateway adds), or an empty one."""
    for name, raw in kept:
        for _, data in sse_events(raw) if name == BLOCK else [(name, raw)]:
            event = loads_object(data)
            if event:
                return event
    return {}


class Renamer:
    """Renames ``"model": <upstream>`` to the public name in raw bytes, and keeps what
    passed (by reference, bounded) until usage arrives."""

    __slots__ = ("_kept_bytes", "kept", "patterns")

    def __init__(self, upstream_model: str, public_model: str) -> None:
        self.patterns: tuple[tuple[bytes, bytes], ...] = ()
        if upstream_model != public_model:
            old, new = orjson.dumps(upstream_model), orjson.dumps(public_model)
            self.patterns = (
                (b'"model":' + old, b'"model":' + new),
                (b'"model": ' + old, b'"model": ' + new),
            )
        self.kept: list[tuple[str | None, bytes]] = []
        self._kept_bytes = 0

    def rename(self, raw: bytes) -> bytes:
        for old, new in self.patterns:
            if old in raw:
                raw = raw.replace(old, new)
        return raw

    def keep(self, name: str | None, raw: bytes) -> None:
        if self._kept_bytes < KEEP_LIMIT_BYTES:
            self.kept.append((name, raw))
            self._kept_bytes += len(raw)


def kept_text(codec: Codec, kept: list[tuple[str | None, bytes]]) -> str:
    """The text a passed-through stream produced, from what its rewriter kept (blocks and
    events), read with the format's own stream decoder."""
    decoder = codec.stream_decoder()
    assembler = ir.Assembler()
    for name, raw in kept:
        for event_name, data in sse_events(raw) if name == BLOCK else [(name, raw)]:
            try:
                for event in decoder.feed(event_name, orjson.loads(data)):
                    assembler.feed(event)
            except (orjson.JSONDecodeError, ValueError, LookupError, TypeError):
                continue  # not JSON (an end marker), or a chunk the decoder cannot read
    return answer_text(assembler.response)


def loads_object(data: bytes) -> dict[str, Any]:
    """``data`` parsed, when it is a JSON object; else an empty one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def renamed(body: bytes, document: dict[str, Any], upstream_model: str, public_model: str) -> bytes:
    """A whole answer's bytes naming the public model: re-encoded from ``document`` (which
    is changed too) only when the upstream's name is there to replace."""
    if upstream_model != public_model and document.get("model") == upstream_model:
        document["model"] = public_model
        return orjson.dumps(document)
    return body


def json_object(body: bytes) -> dict[str, Any]:
    """A whole answer parsed. Raises ``ValueError`` for a body that is not a JSON object:
    the caller tries the next channel rather than pass on bytes no SDK can read."""
    document = orjson.loads(body)  # orjson.JSONDecodeError is a ValueError
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    return document
