"""OpenAI text to speech (``POST /v1/audio/speech``): the request's checks, what it bills,
and the ``Body`` the relay passes through.

Request (JSON): ``model``; ``input`` (1 to ``MAX_CHARACTERS`` characters); ``voice`` (a
name, or ``{"id": ...}`` for a custom voice); optional ``response_format`` (``mp3``,
``opus``, ``aac``, ``flac``, ``wav``, ``pcm``), ``speed`` (0.25 to 4.0), ``instructions``
and ``stream_format`` (``audio`` only: the answer is the audio's bytes, copied to the
client as they come; ``sse`` is refused rather than answered as something else).

What it bills is known before the call: the characters of ``input`` (``characters``),
priced per million characters. The answer is audio, never JSON: nothing is read from it.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

MAX_CHARACTERS = 4096
RESPONSE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MIN_SPEED, MAX_SPEED = 0.25, 4.0


def check_request(payload: Any) -> str:
    """The model of a valid request; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    text = payload.get("input")
    if not isinstance(text, str) or not text:
        raise ValueError("'input' is required and must be a non-empty string")
    if len(text) > MAX_CHARACTERS:
        raise ValueError(f"'input' must have at most {MAX_CHARACTERS} characters")
    voice = payload.get("voice")
    if not (isinstance(voice, str) and voice) and not (
        isinstance(voice, dict) and isinstance(voice.get("id"), str)
    ):
        raise ValueError("'voice' is required: a voice name, or an object with an 'id'")
    response_format = payload.get("response_format")
    if response_format is not None and response_format not in RESPONSE_FORMATS:
        raise ValueError("'response_format' must be one of " + ", ".join(RESPONSE_FORMATS))
    speed = payload.get("speed")
    if speed is not None and not (
        isinstance(speed, int | float)
        and not isinstance(speed, bool)
        and MIN_SPEED <= speed <= MAX_SPEED
    ):
        raise ValueError(f"'speed' must be a number from {MIN_SPEED} to {MAX_SPEED}")
    instructions = payload.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise ValueError("'instructions' must be a string")
    stream_format = payload.get("stream_format")
    if stream_format is not None and stream_format != "audio":
        raise ValueError("'stream_format' must be 'audio': the audio's bytes are streamed")
    return model


def billed(payload: dict[str, Any]) -> Usage:
    """What a checked request bills: its input's characters (code points, as OpenAI counts
    them)."""
    return Usage(characters=len(payload["input"]))


class SpeechBody:
    """Text to speech, passed through: the model renamed in the request; the answer is
    audio, copied as it comes (never parsed)."""

    name = WireFormat.OPENAI_SPEECH
    bytes_per_token = 1
    cache_writes = False

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        return orjson.dumps({**request.payload, "model": upstream_model})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return 0, 1

    def prompt_text(self, request: Request) -> str:
        return ""  # billed by characters, known from the request

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        return body, None, {}  # audio bytes: nothing to read or rename

    def answer_text(self, document: dict[str, Any]) -> str:
        return ""


BODY: SpeechBody = SpeechBody()
