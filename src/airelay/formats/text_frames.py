"""The bulk of a translated stream, read without parsing: text deltas that differ from an
earlier one in their text only.

Most events of a stream are text deltas, and an upstream writes each one the same way
but for its text (``{"type":"content_block_delta","index":0,"delta":{"type":"text_delta",
"text":"..."}}``, a ``chat.completion.chunk`` with the same id, model and choice). Once a
decoder has read one such event, ``TextFrames`` keeps its bytes around the text (the
frame); a later event of the same name with those same bytes around a plain JSON string
is that string's delta, and is neither parsed nor decoded.

Only the events a decoder vouches for (its ``text_frame``) are learned: an event that
decoded to one text delta and, with any other non-empty text in its place, would decode to
the delta of that text and change nothing else in the decoder. A stream's first event may
also start the stream (OpenAI's first chunk holds text): the events after it in its frame
decode to their delta alone, the stream being started. The frame is learned only where
nothing can be mistaken: the event is written as orjson writes its parsed value (so the
text is written as ``orjson.dumps`` writes it) and that writing shows once in the event.
A string in a frame is taken only when it is what ``orjson.dumps`` writes for its text (no
escape, no control byte, valid UTF-8): its bytes are the text's, and the event is what
parsing would have read.

An upstream that sends many events at once (a fast model, a slow reader) hands over blocks
of dozens of them. ``run`` reads a run of consecutive text deltas in the frame straight off
such a raw SSE block, with one ``split`` (each event is the ``data:`` line of the frame, the
text between, the blank line), and checks the texts together: where the events are written
as the usual SSE events (``event: NAME`` and ``data: `` lines, or a ``data: `` line alone),
the run is exactly the events parsing would read, one delta each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from airelay.formats.ir import StreamEvent, StreamStart, TextDelta

# What a plain string's bytes hold none of: what ``orjson.dumps`` escapes.
_ESCAPED: Final = re.compile(rb'["\\\x00-\x1f]')
# ... and the same but for the line feed, which joins a run's texts to check them at once.
_ESCAPED_IN_RUN: Final = re.compile(rb'["\\\x00-\x09\x0b-\x1f]')
# Events tried as a frame before giving up on a stream that never has one.
_TRIES: Final = 3


class TextFrames:
    """The frame of one stream's text deltas (the latest learned), and reading by it."""

    __slots__ = ("_end", "_head", "_may", "_name", "_sep", "_start", "_tail", "_tries", "choice")

    def __init__(self, may: Callable[[str | None, Any], bool]) -> None:
        self._may = may  # the decoder's ``text_frame``
        self._name: str | None = None
        self._head = b""  # the event's bytes up to the text, its opening quote included
        self._tail = b""  # ... and from its closing quote on
        self.choice = 0  # the choice of the frame's deltas
        self._tries = _TRIES
        # The frame as raw SSE: an event up to its text, from the text's closing quote to
        # the blank line, and between the texts of two such events in a row.
        self._start = b""
        self._end = b""
        self._sep = b""

    @property
    def known(self) -> bool:
        """Whether a frame was learned (``run`` may find one)."""
        return bool(self._head)

    @property
    def next_start(self) -> bytes:
        """Where a run may start in a raw block, after its first event: a blank line and
        an event's bytes up to its text."""
        return b"\n\n" + self._start

    def text(self, name: str | None, data: bytes) -> str | None:
        """The text of the delta (of ``choice``) that ``data``, an event named ``name``,
        stands for when it is in the frame, else None (parse and decode it)."""
        head = self._head
        if not head or name != self._name or not data.startswith(head):
            return None
        tail = self._tail
        start, end = len(head), len(data) - len(tail)
        if end <= start or not data.endswith(tail):
            return None
        plain = data[start:end]
        if _ESCAPED.search(plain) is not None:
            return None
        try:
            return plain.decode() or None
        except UnicodeDecodeError:
            return None

    def learn(self, name: str | None, data: bytes, parsed: Any, events: list[StreamEvent]) -> None:
        """Take the frame of ``data`` when it decoded to one text delta (``events``; after
        the stream's start, for its first event) and the frame is unmistakable (see the
        module's docstring)."""
        if self._tries <= 0 or not events or type(event := events[-1]) is not TextDelta:
            return
        if len(events) > 1 and any(type(e) is not StreamStart for e in events[:-1]):
            return
        self._tries -= 1
        literal = orjson.dumps(event.text)
        at = data.find(literal)
        if at <= 0 or data.find(literal, at + 1) >= 0 or not event.text:
            return
        try:
            if orjson.dumps(parsed) != data or not self._may(name, parsed):
                return
        except orjson.JSONEncodeError:  # an integer past 64 bits, say
            return
        self._name = name
        self._head = data[: at + 1]
        self._tail = data[at + len(literal) - 1 :]
        self.choice = event.choice
        self._tries = _TRIES
        line = b"data: " if name is None else b"event: " + name.encode() + b"\ndata: "
        self._start = line + self._head
        self._end = self._tail + b"\n\n"
        self._sep = self._end + self._start

    def run(self, block: bytes) -> tuple[list[bytes], str, int] | None:
        """The run of text deltas in the frame that a raw block of whole SSE events opens
        with: the bytes of their texts (plain JSON string content, each one its text's
        UTF-8), the texts joined, and where in ``block`` the run ends; None when the block
        does not open with one."""
        start = self._start
        if not start or not block.startswith(start):
            return None
        pieces = _split(block[len(start) :], self._sep)
        last = pieces[-1]  # the last text, its frame's end, and the events after it
        quote = last.find(b'"')  # a plain text holds no quote: this ends it
        if quote > 0 and last.startswith(self._end, quote):
            pieces[-1] = last[:quote]
        else:
            pieces.pop()
        lined = b"\n".join(pieces)
        if (
            _ESCAPED_IN_RUN.search(lined) is not None
            or lined.count(b"\n") != len(pieces) - 1  # a line feed in a text
            or b"" in pieces
        ):
            del pieces[_plain(pieces) :]
            lined = b"\n".join(pieces)
        if not pieces:
            return None
        try:
            # Decoded with a line feed between: each text must be valid UTF-8 alone.
            text = lined.decode().replace("\n", "")
        except UnicodeDecodeError:
            return None
        count = len(pieces)
        end = len(start) + len(lined) - (count - 1) + (count - 1) * len(self._sep)
        return pieces, text, end + len(self._end)


def _split(data: bytes, sep: bytes) -> list[bytes]:
    """``data.split(sep)``, cheaper for a long ``sep``.

    On CPython, ``bytes.split`` searches for each next ``sep`` anew, and a search for a
    needle of 100 bytes or more in 2,500 bytes or more first analyses the needle (the
    two-way algorithm): an OpenAI chunk's frame is ~200 bytes, so a block of a few dozen
    deltas paid that analysis once per delta (7.3 µs for 18 deltas in 4.5 KB). Split on the
    separator's last bytes instead (a short needle is searched without analysis), and keep
    that split only if joining its pieces with the whole separator gives ``data`` back
    (no piece holds the short needle, so none holds ``sep``: they are the pieces
    ``data.split(sep)`` gives); 3.9 µs for the same block."""
    # Only the searches made while 2,500 bytes or more are left analyse the needle: worth
    # the checks below when a few are.
    if len(sep) < _LONG_NEEDLE or len(data) - _LONG_HAYSTACK < _ANALYSED * len(sep):
        return data.split(sep)
    rest = len(sep) - _SHORT_NEEDLE  # what each piece but the last ends with
    pieces = data.split(sep[rest:])
    last = pieces.pop()
    texts = [piece[:-rest] for piece in pieces]
    texts.append(last)
    if len(texts) > 1 and sep.join(texts) != data:  # the short needle was not always sep
        return data.split(sep)
    return texts


# CPython analyses a needle this long (when the text searched is this long) before each
# search; a needle shorter than this one is searched without.
_LONG_NEEDLE: Final = 100
_LONG_HAYSTACK: Final = 2_500
_SHORT_NEEDLE: Final = 12  # the separator's last bytes, split on instead
_ANALYSED: Final = 4  # searches that would analyse the long needle, for the split to pay


def _plain(pieces: list[bytes]) -> int:
    """How many of ``pieces``, from the first, are a non-empty plain string's bytes."""
    for i, piece in enumerate(pieces):
        if not piece or _ESCAPED.search(piece) is not None:
            return i
    return len(pieces)
