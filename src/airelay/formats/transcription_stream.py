"""A streamed OpenAI transcription (``stream: true`` on ``/v1/audio/transcriptions``), as
the relay watches it while copying it to the client byte for byte.

The upstream answers Server-Sent Events, each ``data:`` a JSON object with a ``type``:
``transcript.text.delta`` (``delta``), ``transcript.text.segment`` (diarized segments), and
last ``transcript.text.done`` (``text``, and ``usage``: ``{"type": "tokens", "input_tokens",
"output_tokens", "total_tokens"}`` or ``{"type": "duration", "seconds"}``). A stream is
complete only once its ``done`` event came: one that ends before it was cut by the
upstream. An ``error`` object in an event is a failure reported in the stream.

Only models that stream their transcript take ``stream`` (``gpt-4o-transcribe`` and its
kin); Whisper models do not (OpenAI ignores the flag for them and answers whole): the
gateway refuses the flag for them with 400 instead of answering something else than what
was asked (``openai_transcription.streamable``).
"""

from __future__ import annotations

import orjson

from airelay.formats.framing import SseDeframer
from airelay.formats.openai_transcription import usage_of
from airelay.formats.usage import Usage

DONE = "transcript.text.done"


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
