"""OpenAI transcriptions and translations (``POST /v1/audio/transcriptions``,
``/v1/audio/translations``): the form's checks, what a call bills, and the ``Body`` the
relay passes through.

Request (``multipart/form-data``): ``file`` (the audio), ``model``; optional ``language``
(transcriptions), ``prompt``, ``response_format`` (``json``, ``text``, ``srt``,
``verbose_json``, ``vtt``), ``temperature`` (0 to 1), ``timestamp_granularities[]``.
``stream`` (transcriptions only) is answered with the events of a streamed transcription
(``formats.transcription_stream``): the upstream's as they come, or, from an upstream that
answered whole (whisper-1, or one that ignores the flag), events that tell that answer.
Which models stream is the upstream's to say, not the public name's: a name may map to any
upstream model. Refused with 400: ``stream`` on a translation (never streamed) and with
``response_format`` ``srt`` or ``vtt`` (subtitles have no events: no model streams them).
The body goes upstream as the client sent it; only a renamed model changes it.

Billing: the file's duration in whole seconds (``audio_seconds``), measured from its
headers before the call (the reservation) and replaced by the upstream's own when the answer
reports one (``duration`` of ``verbose_json``, or ``usage: {"type": "duration", "seconds"}``);
token usage (``usage: {"type": "tokens", ...}``) is read too. Answers in ``text``, ``srt``
and ``vtt`` are plain text with their own content type, passed on as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from airelay.formats import multipart
from airelay.formats.audio_duration import audio_seconds
from airelay.formats.names import WireFormat
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

RESPONSE_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
# The text fields read and checked; every other part passes through untouched.
_TEXT_FIELDS = ("model", "language", "prompt", "response_format", "temperature", "stream")


@dataclass(frozen=True, slots=True)
class Upload:
    """A checked form: its model, its text fields (the call's payload) and what it bills."""

    model: str
    fields: dict[str, Any]
    usage: Usage


#: Formats a streamed transcription's events cannot carry (subtitles).
UNSTREAMED_FORMATS = ("srt", "vtt")


def wants_stream(fields: dict[str, Any]) -> bool:
    """Whether a form's ``stream`` field asks for a stream (``true`` or ``1``)."""
    value = fields.get("stream")
    return isinstance(value, str) and value.strip().lower() in ("true", "1")


def check_form(body: bytes, content_type: str, *, streams: bool = False) -> Upload:
    """A valid transcription or translation form; raises ``ValueError`` (a 400 message).
    ``streams``: the endpoint may stream (transcriptions)."""
    form = multipart.parse(body, multipart.boundary_of(content_type))
    fields: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = form.text(name)
        if value is not None:
            fields[name] = value
    model = fields.get("model", "").strip()
    if not model:
        raise ValueError("'model' is required")
    fields["model"] = model
    response_format = fields.get("response_format")
    if response_format is not None and response_format not in RESPONSE_FORMATS:
        raise ValueError("'response_format' must be one of " + ", ".join(RESPONSE_FORMATS))
    temperature = fields.get("temperature")
    if temperature is not None:
        try:
            number = float(temperature)
        except ValueError:
            number = math.nan
        if not 0 <= number <= 1:
            raise ValueError("'temperature' must be a number from 0 to 1")
    stream = fields.get("stream", "false").strip().lower()
    if stream not in ("false", "0", "", "true", "1"):
        raise ValueError("'stream' must be true or false")
    if wants_stream(fields):
        if not streams:
            raise ValueError("'stream' is not supported: translations are answered whole")
        if response_format in UNSTREAMED_FORMATS:
            raise ValueError(
                f"'stream' is not supported with response_format '{response_format}': "
                "subtitles are answered whole; ask for json or text to stream"
            )
    upload = form.part("file")
    if upload is None or upload.filename is None:
        raise ValueError("'file' is required: the audio file to transcribe")
    if upload.end == upload.start:
        raise ValueError("'file' is empty")
    seconds = audio_seconds(form.value(upload), upload.filename)
    return Upload(model, fields, Usage(audio_seconds=seconds))


def _seconds(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return math.ceil(value) if math.isfinite(value) and value > 0 else None


def usage_of(document: dict[str, Any]) -> Usage | None:
    """What an answer reports: its duration, or the tokens it counted."""
    usage = document.get("usage")
    if isinstance(usage, dict):
        if usage.get("type") == "duration":
            seconds = _seconds(usage.get("seconds"))
            if seconds is not None:
                return Usage(audio_seconds=seconds)
        if usage.get("type") == "tokens":
            prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
            if isinstance(prompt, int) and isinstance(completion, int):
                return Usage(prompt_tokens=max(prompt, 0), completion_tokens=max(completion, 0))
    seconds = _seconds(document.get("duration"))
    return None if seconds is None else Usage(audio_seconds=seconds)


class TranscriptionBody:
    """A transcription or translation form, passed through as bytes."""

    name = WireFormat.OPENAI_TRANSCRIPTION
    # The form is mostly audio: a reservation prices no prompt tokens by its length.
    bytes_per_token = 1 << 40
    cache_writes = False

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        form = multipart.parse(request.body, multipart.boundary_in(request.body))
        return form.replace_value("model", upstream_model)

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return 0, 1

    def prompt_text(self, request: Request) -> str:
        return ""  # billed by the audio's seconds, known from the request

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        return orjson.dumps(document)  # the seconds billed are the file's: nothing to add

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body, None, {}  # text, srt, vtt
        if not isinstance(document, dict):
            return body, None, {}  # a text answer that happens to read as JSON ("42")
        return body, usage_of(document), document

    def answer_text(self, document: dict[str, Any]) -> str:
        return ""


BODY: TranscriptionBody = TranscriptionBody()
