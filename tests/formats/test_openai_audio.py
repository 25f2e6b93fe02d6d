"""The audio formats: a speech request's checks and characters; a multipart form read in
place; a transcription form's checks, the file's duration measured from its headers, and
the duration or tokens an answer reports; a whole transcription told as the events of a
stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from support.audio_files import form, wav_bytes

from airelay.formats import multipart, openai_speech, openai_transcription, transcription_stream
from airelay.formats.audio_duration import audio_seconds
from airelay.formats.usage import Usage

SPEECH = {"model": "tts-1", "input": "héllo", "voice": "alloy"}


@dataclass
class Req:
    body: bytes
    model: str = "whisper-1"
    payload: dict[str, Any] | None = None
    stream: bool = False
    wants_usage: bool = False

    def request_ir(self) -> Any:
        raise AssertionError


def test_speech_bills_its_characters() -> None:
    assert openai_speech.check_request(SPEECH) == "tts-1"
    assert openai_speech.billed(SPEECH) == Usage(characters=5)  # code points, not bytes
    full = {**SPEECH, "input": "x" * 4096, "speed": 4, "response_format": "wav"}
    assert openai_speech.check_request(full) == "tts-1"
    assert openai_speech.check_request({**SPEECH, "voice": {"id": "voice_1"}}) == "tts-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input": "x" * 4097}, "at most 4096"),
        ({"input": ""}, "'input'"),
        ({"voice": None}, "'voice'"),
        ({"voice": 3}, "'voice'"),
        ({"response_format": "ogg"}, "'response_format'"),
        ({"speed": 0.2}, "'speed'"),
        ({"speed": "1"}, "'speed'"),
        ({"instructions": 1}, "'instructions'"),
        ({"stream_format": "sse"}, "'stream_format'"),
        ({"model": None}, "'model'"),
    ],
)
def test_bad_speech_requests(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        openai_speech.check_request({**SPEECH, **change})


def test_wav_duration_is_measured_and_rounded_up() -> None:
    assert audio_seconds(memoryview(wav_bytes(3.0)), "a.wav") == 3
    assert audio_seconds(memoryview(wav_bytes(2.01)), "a.wav") == 3
    assert audio_seconds(memoryview(wav_bytes(0.1)), None) == 1


@pytest.mark.parametrize("data", [b"not audio at all" * 64, wav_bytes(1.0)[:30], b"RIFF"])
def test_unreadable_audio_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        audio_seconds(memoryview(data), "a.mp3")


def test_form_is_read_in_place() -> None:
    audio = wav_bytes(1.0)
    body, content_type = form({"model": "whisper-1", "language": "en"}, audio)
    parsed = multipart.parse(body, multipart.boundary_of(content_type))
    assert parsed.text("model") == "whisper-1" and parsed.text("language") == "en"
    upload = parsed.part("file")
    assert upload is not None and upload.filename == "audio.wav"
    assert upload.content_type == "audio/wav"
    assert bytes(parsed.value(upload)) == audio
    assert parsed.text("file") is None  # a file is no text field
    renamed = multipart.parse(parsed.replace_value("model", "whisper-large"), parsed_boundary(body))
    assert renamed.text("model") == "whisper-large"
    file_part = renamed.part("file")
    assert file_part is not None and bytes(renamed.value(file_part)) == audio


def parsed_boundary(body: bytes) -> str:
    return multipart.boundary_in(body)


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "multipart/form-data"),
        ("multipart/form-data", "boundary"),
        ('multipart/form-data; boundary=""', "boundary"),
    ],
)
def test_bad_content_types(content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        multipart.boundary_of(content_type)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'preamble\r\n--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx',  # no close
        b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",  # no name
        b'--b\r\nContent-Disposition: attachment; name="a"\r\n\r\nx\r\n--b--',
        b"--b\r\nno headers end",
        b"--b",
    ],
)
def test_malformed_forms(body: bytes) -> None:
    with pytest.raises(ValueError):
        multipart.parse(body, "b")


def test_too_many_parts() -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    with pytest.raises(ValueError, match="more than"):
        multipart.parse(part * 65 + b"--b--\r\n", "b")


def test_a_transcription_form_bills_the_measured_seconds() -> None:
    body, content_type = form({"model": " whisper-1 ", "response_format": "srt"}, wav_bytes(4.2))
    upload = openai_transcription.check_form(body, content_type)
    assert upload.model == "whisper-1"
    assert upload.fields == {"model": "whisper-1", "response_format": "srt"}
    assert upload.usage == Usage(audio_seconds=5)


@pytest.mark.parametrize(
    ("fields", "audio", "message"),
    [
        ({}, wav_bytes(1), "'model'"),
        ({"model": "w", "response_format": "xml"}, wav_bytes(1), "'response_format'"),
        ({"model": "w", "temperature": "2"}, wav_bytes(1), "'temperature'"),
        ({"model": "w", "temperature": "hot"}, wav_bytes(1), "'temperature'"),
        ({"model": "w", "stream": "true"}, wav_bytes(1), "'stream'"),
        ({"model": "w"}, b"", "empty"),
        ({"model": "w"}, b"plain text, not audio" * 10, "cannot be read"),
    ],
)
def test_bad_transcription_forms(fields: dict[str, str], audio: bytes, message: str) -> None:
    body, content_type = form(fields, audio)
    with pytest.raises(ValueError, match=message):
        openai_transcription.check_form(body, content_type)


def test_a_form_without_a_file() -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nw\r\n--b--\r\n'
    with pytest.raises(ValueError, match="'file' is required"):
        openai_transcription.check_form(body, "multipart/form-data; boundary=b")


@pytest.mark.parametrize(
    ("answer", "usage"),
    [
        ({"text": "hi", "duration": 8.47}, Usage(audio_seconds=9)),
        ({"text": "hi", "usage": {"type": "duration", "seconds": 3}}, Usage(audio_seconds=3)),
        (
            {"text": "hi", "usage": {"type": "tokens", "input_tokens": 30, "output_tokens": 2}},
            Usage(prompt_tokens=30, completion_tokens=2),
        ),
        ({"text": "hi"}, None),
        ({"text": "hi", "duration": "8"}, None),
        ({"text": "hi", "duration": -1}, None),
    ],
)
def test_what_an_answer_reports(answer: dict[str, Any], usage: Usage | None) -> None:
    body = orjson.dumps(answer)
    out, read, _ = openai_transcription.BODY.whole_usage(body, "w", "public")
    assert out == body and read == usage


@pytest.mark.parametrize("text", [b"hello\n", b"42", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n"])
def test_text_answers_pass_as_they_are(text: bytes) -> None:
    assert openai_transcription.BODY.whole_usage(text, "w", "public") == (text, None, {})


def test_a_renamed_model_is_the_only_change() -> None:
    body, _ = form({"model": "public"}, wav_bytes(1))
    request = Req(body, model="public")
    assert openai_transcription.BODY.same_format_body(request, "public") is body
    sent = openai_transcription.BODY.same_format_body(request, "whisper-1")
    assert sent == body.replace(b"\r\n\r\npublic\r\n", b"\r\n\r\nwhisper-1\r\n")


def _events(data: bytes) -> list[dict[str, Any]]:
    assert data.endswith(b"\n\n")
    blocks = data[:-2].split(b"\n\n")
    assert all(block.startswith(b"data: ") for block in blocks)
    return [orjson.loads(block.removeprefix(b"data: ")) for block in blocks]


def test_a_whole_json_transcription_told_as_its_events() -> None:
    usage = {"type": "duration", "seconds": 3}
    answer = {"text": "héllo world", "usage": usage, "logprobs": [{"token": "h"}], "x": 1}
    events = transcription_stream.events_of_whole(
        {}, orjson.dumps(answer), "application/json; charset=utf-8"
    )
    assert events is not None
    assert _events(events) == [
        {"type": "transcript.text.delta", "delta": "héllo world"},
        {
            "type": "transcript.text.done",
            "text": "héllo world",
            "usage": usage,
            "logprobs": [{"token": "h"}],
        },
    ]
    # The watch of a streamed transcription reads them as complete, with that usage.
    watch = transcription_stream.TranscriptWatch()
    watch.feed(events)
    assert watch.finished and watch.usage == Usage(audio_seconds=3)


def test_a_whole_text_transcription_told_as_its_events_and_what_has_no_events() -> None:
    text = transcription_stream.events_of_whole(
        {"response_format": "text"}, b"hello\n", "text/plain; charset=utf-8"
    )
    assert text is not None
    assert [event.get("delta", event.get("text")) for event in _events(text)] == ["hello"] * 2
    srt = b"1\n00:00:00,000 --> 00:00:01,000\nhello\n\n"
    srt_events = transcription_stream.events_of_whole({"response_format": "srt"}, srt, "text/plain")
    assert srt_events is None  # subtitles have no events: passed as they came
    for body in (b'{"error": "x"}', b"[1]", b"not json", b'{"text": 42}'):
        assert transcription_stream.events_of_whole({}, body, "application/json") is None


def test_stream_is_taken_for_any_model_but_not_with_subtitles() -> None:
    body, content_type = form({"model": "whisper-1", "stream": "true"}, wav_bytes(1.0))
    assert openai_transcription.check_form(body, content_type, streams=True).model == "whisper-1"
    for response_format in ("srt", "vtt"):
        fields = {
            "model": "gpt-4o-transcribe",
            "stream": "true",
            "response_format": response_format,
        }
        body, content_type = form(fields, wav_bytes(1.0))
        with pytest.raises(ValueError, match="'stream' is not supported with response_format"):
            openai_transcription.check_form(body, content_type, streams=True)
