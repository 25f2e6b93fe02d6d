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
the delta of that text and change nothing else in the decoder. The frame is learned only where
nothing can be mistaken: the event is written as orjson writes its parsed value (so the
text is written as ``orjson.dumps`` writes it) and that writing shows once in the event.
A string in a frame is taken only when it is what ``orjson.dumps`` writes for its text (no
escape, no control byte, valid UTF-8): its bytes are the text's, and the event is what
parsing would have read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from airelay.formats.ir import StreamEvent, TextDelta

# What a plain string's bytes hold none of: what ``orjson.dumps`` escapes.
_ESCAPED: Final = re.compile(rb'["\\\x00-\x1f]')
# Events tried as a frame before giving up on a stream that never has one.
_TRIES: Final = 3


class TextFrames:
    """The frame of one stream's text deltas (the latest learned), and reading by it."""

    __slots__ = ("_choice", "_head", "_may", "_name", "_tail", "_tries")

    def __init__(self, may: Callable[[str | None, Any], bool]) -> None:
        self._may = may  # the decoder's ``text_frame``
        self._name: str | None = None
        self._head = b""  # the event's bytes up to the text, its opening quote included
        self._tail = b""  # ... and from its closing quote on
        self._choice = 0
        self._tries = _TRIES

    def text(self, name: str | None, data: bytes) -> TextDelta | None:
        """The delta ``data`` (an event named ``name``) stands for when it is in the frame,
        else None (parse and decode it)."""
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
            return TextDelta(plain.decode(), self._choice)
        except UnicodeDecodeError:
            return None

    def learn(self, name: str | None, data: bytes, parsed: Any, events: list[StreamEvent]) -> None:
        """Take the frame of ``data`` when it decoded to one text delta (``events``) and
        the frame is unmistakable (see the module's docstring)."""
        if self._tries <= 0 or len(events) != 1 or type(event := events[0]) is not TextDelta:
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
        self._choice = event.choice
        self._tries = _TRIES
