"""A streamed OpenAI transcription (``stream: true`` on ``/v1/audio/transcriptions``), as
the relay watches it while copying it to the client byte for byte.

The upstream answers Server-Sent Events, each ``data:`` a JSON object with a ``type``:
``transcript.text.delta`` (``delta``), ``transcript.text.segment`` (diarized segments), and
last ``transcript.text.done`` (``text``, and ``usage``: ``{"type": "tokens", "input_tokens",
"output_tokens", "total_tokens"}`` or ``{"type": "duration", "seconds"}``). A stream is
complete only once its ``done`` event came: one that ends before it was cut by the
upstream. An ``error`` object in an event is a failure reported in the stream.

Only some models stream their transcript (``gpt-4o-transcribe`` and its kin); whisper-1
does not (OpenAI ignores the flag and answers whole), and any upstream may behind a public
name that says nothing of it. A client that asked for a stream reads events, and a whole
JSON answer handed to it as is yields it nothing (the SDKs find no event in it). So a whole
answer to a stream call is told as the events it would have streamed
(``events_of_whole``): one ``transcript.text.delta`` with the whole text, then
``transcript.text.done`` with the text, and the ``usage`` (and ``logprobs``,
``languages``) the answer reported; the call is billed on the whole answer, as it would be
without ``stream``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from airelay.formats.framing import SseDeframer
from airelay.formats.openai_transcription import usage_of
from airelay.formats.usage import Usage

DONE = "transcript.text.done"
DELTA = "transcript.text.delta"
#: What of a whole answer its ``done`` event carries beside the text, as OpenAI's does.
_DONE_FIELDS = ("logprobs", "languages", "usage")


class TranscriptWatch:
    """Reads the events of a streamed transcription as they pass: ``finished`` once its
    ``done`` event came, ``usage`` what that event reports, ``failure`` an error event's
    message."""

    __slots__ = ("_reader", "failure", "finished", "usage")

    def __init__(self) -> None:
        self._reader = SseDeframer()
        self.finished = False
        self.usage: Usage | None = None
        self.failure: str | None = None

    def feed(self, chunk: bytes) -> None:
        for _name, data in self._reader.feed(chunk):
            self._event(data)

    def _event(self, data: bytes) -> None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return  # an end marker, or not an event of the format's
        if not isinstance(event, dict):
            return
        error = event.get("error")
        if error is not None or event.get("type") == "error":
            message = error.get("message") if isinstance(error, dict) else None
            self.failure = message if isinstance(message, str) else "upstream stream failed"
            return
        if event.get("type") == DONE:
            self.finished = True
            self.usage = usage_of(event)

    def error_event(self, message: str) -> bytes:
        """An event that ends a cut stream for the client: the OpenAI SDKs raise an
        ``APIError`` on an event carrying ``error``."""
        body = {"type": "error", "error": {"message": message, "type": "api_error"}}
        return b"data: " + orjson.dumps(body) + b"\n\n"


def events_of_whole(fields: Mapping[str, Any], body: bytes, content_type: str) -> bytes | None:
    """The events that tell a whole transcription (a JSON object with its ``text``, or the
    plain text ``response_format: text`` answers), for a client that asked ``fields`` to
    stream it; None for an answer that has no such form (it goes to the client as it came).
    """
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict) or not isinstance(document.get("text"), str):
            return None
        text: str = document["text"]
        done: dict[str, Any] = {"type": DONE, "text": text}
        done.update((name, document[name]) for name in _DONE_FIELDS if name in document)
    elif kind == "text/plain" and fields.get("response_format") == "text":
        text = body.decode("utf-8", "replace").removesuffix("\n")
        done = {"type": DONE, "text": text}
    else:
        return None
    delta = {"type": DELTA, "delta": text}
    return b"data: " + orjson.dumps(delta) + b"\n\ndata: " + orjson.dumps(done) + b"\n\n"
