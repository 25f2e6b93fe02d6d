"""How a streamed answer is cut into events on the wire, read incrementally.

An upstream's stream arrives in chunks cut anywhere; a ``Deframer`` turns them into whole
events, ``(name, data)``: ``name`` is the event's name where the framing carries one (SSE
``event:``, the ``type`` of a Bedrock model event) or None, ``data`` the event's JSON as
bytes. Which deframer reads a stream follows from its content type (``stream_framing``),
never from the wire format: an Anthropic-format upstream may answer as server-sent events
or, behind Bedrock, as AWS event-stream.

An upstream's own failure inside the framing (an AWS event-stream ``exception`` message) is
the event ``(FAILURE, message)``; bytes the framing cannot hold (a bad CRC, a message
larger than any the framing allows) raise ``FramingError``.

Gemini's JSON-array framing lives here once, both ways: ``JsonArrayDeframer`` reads one,
``JsonArrayWriter`` writes one.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Final, Protocol

import orjson

from airelay.formats.names import Framing
from airelay.formats.search import count, find
from airelay.formats.sse import BlockAligner, parse_event, split_events

Event = tuple[str | None, bytes]

#: The name of the event a deframer yields for an upstream failure the framing reports.
FAILURE: Final = "\x00failure"


class FramingError(ValueError):
    """Bytes that do not follow the stream's framing."""


class Deframer(Protocol):
    def feed(self, chunk: bytes) -> list[Event]:
        """The events completed by ``chunk`` (any piece of the stream), in order."""
        ...

    def close(self) -> list[Event]:
        """The stream ended: the events still held (an unterminated last one). A partial
        event is dropped: the caller sees that the stream never completed."""
        ...


# ---- which framing ----------------------------------------------------------------------

_BY_TYPE: Final[dict[str, Framing]] = {
    "text/event-stream": Framing.SSE,
    "application/x-ndjson": Framing.NDJSON,
    "application/ndjson": Framing.NDJSON,
    "application/jsonl": Framing.NDJSON,
    "application/x-jsonlines": Framing.NDJSON,
    "application/vnd.amazon.eventstream": Framing.AWS_EVENTSTREAM,
}


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def stream_framing(content_type: str) -> Framing | None:
    """The framing a content type names; None for JSON (see ``json_framing``) and for
    anything else, which is read as a whole answer."""
    return _BY_TYPE.get(media_type(content_type))


def is_json(content_type: str) -> bool:
    return media_type(content_type) in ("application/json", "")


def json_framing(head: bytes) -> Framing | None:
    """A JSON answer to a stream request is a streamed JSON array when it opens with ``[``
    (Gemini without ``alt=sse``); an object is a whole answer."""
    return Framing.JSON_ARRAY if head.lstrip()[:1] == b"[" else None


def deframer(framing: Framing) -> Deframer:
    if framing is Framing.SSE:
        return SseDeframer()
    if framing is Framing.JSON_ARRAY:
        return JsonArrayDeframer()
    if framing is Framing.NDJSON:
        return NdjsonDeframer()
    return EventStreamDeframer()


# ---- server-sent events -----------------------------------------------------------------


# An ``event:`` line's value -> the event's name; a format uses a few.
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 256


def sse_events(block: bytes) -> list[Event]:
    """The events with data of a block of whole SSE events."""
    usual = _usual_events(block)
    if usual is not None:
        return usual
    out: list[Event] = []
    for raw in split_events(block):
        # The usual events, read here as ``parse_event`` reads them, without splitting
        # them into lines: one ``data:`` line, or an ``event:`` line and a ``data:`` line.
        if raw.startswith(b"data:"):
            if b"\n" not in raw:
                out.append((None, raw[5:].lstrip(b" ")))
                continue
        elif raw.startswith(b"event:"):
            nl = raw.find(b"\n")
            if nl > 0 and raw.startswith(b"data:", nl + 1) and raw.find(b"\n", nl + 1) < 0:
                name = raw[6:nl].strip().decode("utf-8", "replace")
                out.append((name, raw[nl + 6 :].lstrip(b" ")))
                continue
        event_name, data = parse_event(raw)
        if data is not None:
            out.append((event_name, data))
    return out


def _usual_events(block: bytes) -> list[Event] | None:
    """The events of a block of the usual shape only, found by splitting it whole: all
    ``data: ...`` (one line each), or all ``event: ...`` and ``data: ...``; None for any
    other block (CRLF, comments, ``id:``, data of several lines, a mix), read event by
    event. The count of line feeds proves that no event holds one more line."""
    # (``find``, not ``in``: see ``formats.sse``)
    if block.find(b"\r") >= 0 or not block.endswith(b"\n\n") or find(block, b"data:  ", 0) >= 0:
        return None  # (a data line whose JSON starts with spaces: read the general way)
    if block.startswith(b"data: "):
        datas = block[6:-2].split(b"\n\ndata: ")
        if count(block, b"\n") != 2 * len(datas):
            return None
        return [(None, data) for data in datas]
    if block.startswith(b"event: "):
        named = block[7:-2].split(b"\n\nevent: ")
        if count(block, b"\n") != 3 * len(named):
            return None
        names = _NAMES
        out: list[Event] = []
        for event in named:
            name, data_line, data = event.partition(b"\ndata: ")
            if not data_line:
                return None
            out.append((names.get(name) or _name(name), data))
        return out
    return None


def _name(value: bytes) -> str:
    """The name an ``event:`` line's value gives, remembered for the next events (up to a
    bound: an upstream sending ever new names must not grow the table)."""
    name = value.strip().decode("utf-8", "replace")
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[value] = name
    return name


class SseDeframer:
    __slots__ = ("_aligner",)

    def __init__(self) -> None:
        self._aligner = BlockAligner()

    def feed(self, chunk: bytes) -> list[Event]:
        block = self._aligner.feed(chunk)
        return sse_events(block) if block else []

    def close(self) -> list[Event]:
        # An event the stream ended without a blank line after is still whole.
        return sse_events(self._aligner.rest())


# ---- newline-delimited JSON -------------------------------------------------------------


class NdjsonDeframer:
    """One JSON document per line (Ollama); blank lines are skipped."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[Event]:
        data = self._tail + chunk if self._tail else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._tail = data
            return []
        self._tail = data[end + 1 :]
        return [(None, line) for raw in data[:end].split(b"\n") if (line := raw.strip())]

    def close(self) -> list[Event]:
        last, self._tail = self._tail.strip(), b""
        return [(None, last)] if last else []


# ---- a streamed JSON array --------------------------------------------------------------

# What matters outside a string, and inside one.
_STRUCTURE = re.compile(rb'[\[\]{}"]')
_IN_STRING = re.compile(rb'["\\]')
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = b"[{", b"]}", ord('"'), ord("\\")


class JsonArrayDeframer:
    """The elements (objects or arrays) of one JSON array, each as soon as it is whole:
    a scan that follows nesting and strings without parsing. Scalars between elements
    are skipped; nothing after the closing ``]`` is read."""

    __slots__ = ("_buf", "_depth", "_done", "_in_string", "_pos", "_start")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0  # where the scan goes on in _buf
        self._start = -1  # where the element being read starts in _buf
        self._depth = 0  # 1 inside the array, more inside an element
        self._in_string = False
        self._done = False

    def feed(self, chunk: bytes) -> list[Event]:
        if self._done:
            return []
        buf = self._buf + chunk if self._buf else chunk
        pos, start, depth, in_string = self._pos, self._start, self._depth, self._in_string
        out: list[Event] = []
        end = len(buf)
        while pos < end:
            if in_string:
                match = _IN_STRING.search(buf, pos)
                if match is None:
                    pos = end
                    break
                at = match.start()
                if buf[at] == _BACKSLASH:
                    if at + 1 >= end:  # the escaped byte is in the next chunk
                        pos = at
                        break
                    pos = at + 2
                    continue
                in_string = False
                pos = at + 1
                continue
            match = _STRUCTURE.search(buf, pos)
            if match is None:
                pos = end
                break
            at = match.start()
            byte = buf[at]
            pos = at + 1
            if byte == _QUOTE:
                in_string = True
            elif byte in _OPEN:
                if depth == 0 and byte != _OPEN[0]:
                    raise FramingError("a JSON-array stream must open with '['")
                if depth == 1:
                    start = at
                depth += 1
            else:
                depth -= 1
                if depth == 1 and start >= 0:
                    out.append((None, buf[start:pos]))
                    start = -1
                elif depth <= 0:
                    self._done = True
                    break
        keep = start if start >= 0 else pos
        self._buf = buf[keep:]
        self._pos = pos - keep
        self._start = 0 if start >= 0 else -1
        self._depth, self._in_string = depth, in_string
        return out

    def close(self) -> list[Event]:
        return []


class JsonArrayWriter:
    """Writes elements as one streamed JSON array: ``[`` before the first, ``,\\r\\n``
    between (as Google sends them), ``]`` at the end (``[]`` for none)."""

    __slots__ = ("elements",)

    def __init__(self) -> None:
        self.elements = 0

    def element(self, data: bytes) -> bytes:
        prefix = b"[" if self.elements == 0 else b",\r\n"
        self.elements += 1
        return prefix + data

    def close(self) -> bytes:
        return b"]" if self.elements else b"[]"


# ---- AWS event-stream -------------------------------------------------------------------

_PRELUDE = struct.Struct("!III")  # total length, headers length, prelude CRC32
_CRC = struct.Struct("!I")
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024  # the framing's own limit
# Header value types: bytes after the type byte for the fixed-size ones.
_FIXED: Final[dict[int, int]] = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_BYTES, _STRING = 6, 7


class EventStreamDeframer:
    """``application/vnd.amazon.eventstream`` messages: a prelude (total length, headers
    length, their CRC32), headers, the payload and a CRC32 of the whole message.

    An ``event`` message's payload is the event: Bedrock's InvokeModelWithResponseStream
    sends ``{"bytes": "<base64 of the model's JSON event>"}``, which is decoded to that
    event, named by its ``type``; another payload is passed as it is, named by the
    ``:event-type`` header. An ``exception`` (or ``error``) message is a ``FAILURE``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[Event] = []
        pos = 0
        while len(buf) - pos >= _PRELUDE.size:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(buf, pos)
            if binascii.crc32(buf[pos : pos + 8]) != prelude_crc:
                raise FramingError("event-stream prelude checksum mismatch")
            if total > MAX_MESSAGE_BYTES or headers_length > total - 16:
                raise FramingError(f"event-stream message of {total} bytes")
            if len(buf) - pos < total:
                break
            message = buf[pos : pos + total]
            pos += total
            (crc,) = _CRC.unpack_from(message, total - 4)
            if binascii.crc32(message[:-4]) != crc:
                raise FramingError("event-stream message checksum mismatch")
            headers = _headers(message[12 : 12 + headers_length])
            event = _event(headers, message[12 + headers_length : total - 4])
            if event is not None:
                out.append(event)
        self._buf = buf[pos:]
        return out

    def close(self) -> list[Event]:
        return []


def _headers(raw: bytes) -> dict[str, str]:
    """String headers by name (the others are read past)."""
    headers: dict[str, str] = {}
    pos, end = 0, len(raw)
    try:
        while pos < end:
            size = raw[pos]
            name = raw[pos + 1 : pos + 1 + size].decode("utf-8", "replace")
            kind = raw[pos + 1 + size]
            pos += 2 + size
            if kind in (_BYTES, _STRING):
                (length,) = struct.unpack_from("!H", raw, pos)
                if kind == _STRING:
                    headers[name] = raw[pos + 2 : pos + 2 + length].decode("utf-8", "replace")
                pos += 2 + length
            elif kind in _FIXED:
                pos += _FIXED[kind]
            else:
                raise FramingError(f"event-stream header of unknown type {kind}")
    except (IndexError, struct.error) as exc:
        raise FramingError("event-stream headers cut short") from exc
    if pos != end:
        raise FramingError("event-stream headers cut short")
    return headers


def _event(headers: dict[str, str], payload: bytes) -> Event | None:
    kind = headers.get(":message-type", "event")
    if kind != "event":
        reason = headers.get(":exception-type") or headers.get(":error-code") or kind
        return FAILURE, f"{reason}: {_message(payload, headers)}".encode()
    try:
        document = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("bytes"), str):
        try:
            inner = base64.b64decode(document["bytes"], validate=True)
            event = orjson.loads(inner)
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise FramingError("event-stream chunk does not hold a JSON event") from exc
        name = event.get("type") if isinstance(event, dict) else None
        return (name if isinstance(name, str) else None), inner
    if not payload:
        return None
    return headers.get(":event-type"), payload


def _message(payload: bytes, headers: dict[str, str]) -> str:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload.decode("utf-8", "replace")[:500] or headers.get(":error-message", "")
    if isinstance(document, dict):
        for key in ("message", "Message"):
            if isinstance(document.get(key), str):
                return str(document[key])[:500]
    return headers.get(":error-message", "")
