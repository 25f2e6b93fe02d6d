"""Streamed audio through the gateway, with the official OpenAI SDK as the client and a fake
upstream speaking OpenAI's audio wire format, over real HTTP on loopback, on SQLite and on
PostgreSQL: a streamed transcription's events passed through and billed on the usage its
last event reports (or the file's measured seconds when it reports none), cut streams
(transcription and speech) that never end normally for the client and are recorded as
cut, and the 400s for what cannot stream (translations, subtitles).

An upstream that answers a stream call whole (whisper-1, behind any public name, or one
that ignores the flag) gives the client the events of a streamed transcription all the
same: a delta with the text, then ``done`` with the text and the usage the upstream
reported, as ``text/event-stream``, billed exactly as the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2  # the transport of the OpenAI SDK
import openai
import pytest
from fakes.loopback import Behaviour
from fakes.media_upstream import FakeOpenAIMedia, speech_bytes, transcript_tokens
from support.admin import Admin, unique_model
from support.audio_files import form, wav_bytes
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows

from airelay.money import usd_to_units

INPUT, OUTPUT = 2.5, 10  # USD per 1M tokens
PER_AUDIO_MINUTE = 0.006  # USD
PER_MILLION_CHARACTERS = 15  # USD


@dataclass
class Models:
    transcribe: str
    whisper: str
    mapped: str  # a public name without "whisper" in it, for whisper-1
    tts: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("audio-streams")
    with Gateway(database_url, data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def media() -> Iterator[FakeOpenAIMedia]:
    with FakeOpenAIMedia() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(media: FakeOpenAIMedia) -> None:
    media.reset()


@pytest.fixture
def models(admin: Admin, media: FakeOpenAIMedia) -> Models:
    transcribe, whisper, tts = unique_model("stt"), unique_model("whisper"), unique_model("tts")
    mapped = unique_model("my-stt")
    channel = admin.create_channel(
        type="openai",
        base_url=media.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={
            transcribe: "gpt-4o-transcribe",
            whisper: "whisper-1",
            mapped: "whisper-1",
            tts: "tts-1",
        },
        endpoints=["audio"],
        price={
            "input": INPUT,
            "output": OUTPUT,
            "per_audio_minute": PER_AUDIO_MINUTE,
            "per_million_characters": PER_MILLION_CHARACTERS,
        },
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Models(transcribe, whisper, mapped, tts, key, user["id"], channel["id"])


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def token_cost(prompt: int, completion: int) -> int:
    units = prompt * usd_to_units(INPUT) + completion * usd_to_units(OUTPUT)
    return -(-units // 1_000_000)


def second_cost(seconds: int) -> int:
    return -(-seconds * usd_to_units(PER_AUDIO_MINUTE) // 60)


def test_a_streamed_transcription_passes_its_events_and_bills_their_usage(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    data = wav_bytes(3.0)
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=models.transcribe, file=("speech.wav", data, "audio/wav"), stream=True
    )
    deltas, done = [], []
    for event in stream:
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
        elif event.type == "transcript.text.done":
            done.append(event)
    text = f"transcribed {len(data)} bytes with gpt-4o-transcribe"
    assert "".join(deltas) == text and len(deltas) == len(text.split(" "))
    assert len(done) == 1 and done[0].text == text
    assert done[0].usage is not None and done[0].usage.type == "tokens"
    sent = media.requests[-1]
    assert sent.path == "/v1/audio/transcriptions" and data in sent.raw
    prompt, completion = transcript_tokens(len(data), text)
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == token_cost(prompt, completion) > 0
    assert after.credits - after.usage_cost == after.spendable  # nothing left reserved
    (row,) = usage_rows(url, models.user_id)
    assert row["endpoint"] == "/v1/audio/transcriptions" and row["status"] == 200
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion)
    assert row["audio_seconds"] == 0 and row["channel_id"] == models.channel_id


def test_a_stream_without_usage_is_billed_by_the_measured_seconds(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    media.report_transcript_usage = False
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=models.transcribe, file=("speech.wav", wav_bytes(4.2), "audio/wav"), stream=True
    )
    assert [event.type for event in stream][-1] == "transcript.text.done"
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(5) > 0
    (row,) = usage_rows(url, models.user_id)
    assert row["audio_seconds"] == 5 and row["prompt_tokens"] == 0 and row["status"] == 200


def test_a_cut_transcription_stream_fails_for_the_client_and_is_recorded_cut(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    media.script(Behaviour.drop_after(2))  # two deltas, then the connection is closed
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=models.transcribe, file=("speech.wav", wav_bytes(2.0), "audio/wav"), stream=True
    )
    seen = []
    with pytest.raises(openai.APIError) as caught:
        for event in stream:
            seen.append(event.type)
    assert seen == ["transcript.text.delta"] * 2
    assert "upstream stream" in caught.value.message
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    (row,) = usage_rows(url, models.user_id)
    assert row["status"] == 502 and row["cost"] == 0 and row["audio_seconds"] == 0
    assert after.usage_cost == before.usage_cost
    assert after.credits - after.usage_cost == after.spendable  # the reservation went back


def _events(stream: Any) -> list[Any]:
    events = list(stream)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    return events


def test_a_whole_answer_to_a_stream_call_reaches_the_sdk_as_its_events(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    """An upstream that ignores ``stream`` for a model that streams, and answers whole JSON
    with token usage: the SDK gets a delta and ``done``, billed those tokens."""
    media.streams = False
    usage = {"type": "tokens", "input_tokens": 40, "output_tokens": 7, "total_tokens": 47}
    media.whole_usage = usage
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    data = wav_bytes(3.0)
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=models.transcribe, file=("speech.wav", data, "audio/wav"), stream=True
    )
    delta, done = _events(stream)
    text = f"transcribed {len(data)} bytes with gpt-4o-transcribe"
    assert (delta.type, delta.delta) == ("transcript.text.delta", text)
    assert (done.type, done.text) == ("transcript.text.done", text)
    assert done.usage is not None and done.usage.type == "tokens"
    assert (done.usage.input_tokens, done.usage.output_tokens) == (40, 7)
    assert media.requests[-1].path == "/v1/audio/transcriptions"
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == token_cost(40, 7) > 0
    assert after.credits - after.usage_cost == after.spendable  # nothing left reserved
    (row,) = usage_rows(url, models.user_id)
    assert row["status"] == 200 and row["channel_id"] == models.channel_id
    assert (row["prompt_tokens"], row["completion_tokens"], row["audio_seconds"]) == (40, 7, 0)


@pytest.mark.parametrize("name", ["whisper", "mapped"])
def test_a_whisper_upstream_streams_its_whole_answer_billed_by_its_seconds(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia, name: str
) -> None:
    """Whisper answers whole whatever ``stream`` says, whichever public name leads to it:
    events all the same, billed the seconds it reports (else the file's measured ones)."""
    model = getattr(models, name)
    reported = name == "whisper"
    if reported:
        media.whole_usage = {"type": "duration", "seconds": 3}
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    data = wav_bytes(4.2)
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=model, file=("speech.wav", data, "audio/wav"), stream=True
    )
    events = _events(stream)
    text = f"transcribed {len(data)} bytes with whisper-1"
    assert [event.type for event in events] == ["transcript.text.delta", "transcript.text.done"]
    assert events[0].delta == text and events[1].text == text
    assert media.requests[-1].path == "/v1/audio/transcriptions"
    seconds = 3 if reported else 5
    if reported:
        assert events[1].usage is not None and events[1].usage.type == "duration"
        assert events[1].usage.seconds == 3
    else:
        assert events[1].usage is None
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(seconds) > 0
    (row,) = usage_rows(url, models.user_id)
    assert row["status"] == 200 and row["audio_seconds"] == seconds
    assert row["prompt_tokens"] == 0 and row["model"] == model


def test_a_whole_text_answer_to_a_stream_call_is_its_events_too(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    data = wav_bytes(1.0)
    stream = sdk(gateway, models.key).audio.transcriptions.create(
        model=models.mapped,
        file=("speech.wav", data, "audio/wav"),
        response_format="text",
        stream=True,
    )
    delta, done = _events(stream)
    text = f"transcribed {len(data)} bytes with whisper-1"
    assert delta.delta == text and done.text == text


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v1/audio/translations", {"stream": "true"}),
        ("/v1/audio/transcriptions", {"stream": "maybe"}),
        ("/v1/audio/transcriptions", {"stream": "true", "response_format": "srt"}),
        ("/v1/audio/transcriptions", {"stream": "true", "response_format": "vtt"}),
    ],
)
def test_streams_that_cannot_be_are_400(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia, path: str, fields: dict[str, str]
) -> None:
    body, content_type = form({"model": models.transcribe, **fields}, wav_bytes(1.0))
    response = httpx.post(
        gateway.url + path,
        content=body,
        headers={"Authorization": f"Bearer {models.key}", "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "'stream'" in response.json()["error"]["message"]
    assert not media.requests


def test_a_speech_cut_by_the_upstream_never_ends_normally_and_is_recorded_cut(
    gateway: Gateway, models: Models, media: FakeOpenAIMedia
) -> None:
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    media.script(Behaviour.drop_after(1))
    text = "x" * 200  # 20,000 bytes: five chunks, one sent
    received = b""
    speech = sdk(gateway, models.key).audio.speech.with_streaming_response
    with (
        pytest.raises(httpx2.RemoteProtocolError),  # the transfer is broken, not complete
        speech.create(model=models.tts, voice="nova", input=text) as response,
    ):
        for block in response.iter_bytes():
            received += block
    assert 0 < len(received) < len(speech_bytes(text))
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    (row,) = usage_rows(url, models.user_id)
    assert row["endpoint"] == "/v1/audio/speech" and row["status"] == 502
    assert row["cost"] == 0 and row["characters"] == 0
    assert after.usage_cost == before.usage_cost
    assert after.credits - after.usage_cost == after.spendable  # the reservation went back


def test_a_complete_speech_still_ends_normally(gateway: Gateway, models: Models) -> None:
    """The control of the test above: the same call uncut ends and is billed whole."""
    url = gateway.settings.database_url
    before = books(url, models.user_id)
    text = "y" * 200
    response = sdk(gateway, models.key).audio.speech.create(
        model=models.tts, voice="nova", input=text
    )
    assert response.content == speech_bytes(text)
    after = wait_for_rows(url, models.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == -(
        -200 * usd_to_units(PER_MILLION_CHARACTERS) // 1_000_000
    )
