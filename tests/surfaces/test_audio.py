"""OpenAI audio through the gateway with the official OpenAI SDK as the client and a fake
upstream speaking OpenAI's audio wire format, over real HTTP on loopback, on SQLite and on
PostgreSQL: speech streamed to a file and billed per character, transcriptions and
translations of a WAV the test makes billed by its measured seconds (or the upstream's
reported duration), every response format passed through, the upload limit (413), bad
files, an unknown model and a key without the ``audio`` permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fakes.loopback import Behaviour
from fakes.media_upstream import FakeOpenAIMedia, speech_bytes
from support.admin import Admin, unique_model
from support.audio_files import form, wav_bytes
from support.gateway import Gateway
from support.ledger import books, usage_rows, wait_for_rows

from airelay.money import usd_to_units

PER_MILLION_CHARACTERS = 30  # USD
PER_AUDIO_MINUTE = 0.007  # USD: a second is not a whole number of units (rounded once)
UPLOAD_LIMIT = 200_000  # bytes: a 12 s WAV at 8 kHz (192 kB) fits, a 13 s one does not


@dataclass
class Audio:
    tts: str
    whisper: str
    key: str
    user_id: str
    channel_id: str


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("audio")
    with Gateway(database_url, data_dir, max_audio_upload_bytes=UPLOAD_LIMIT) as running:
        yield running


@pytest.fixture(scope="module")
def media() -> Iterator[FakeOpenAIMedia]:
    with FakeOpenAIMedia() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(media: FakeOpenAIMedia) -> None:
    media.reset()


@pytest.fixture
def audio(admin: Admin, media: FakeOpenAIMedia) -> Audio:
    tts, whisper = unique_model("tts"), unique_model("whisper")
    channel = admin.create_channel(
        type="openai",
        base_url=media.base_url,
        api_keys=["sk-upstream-test"],
        models=[],
        model_mapping={tts: "tts-1", whisper: "whisper-1"},
        endpoints=["audio"],
        price={
            "per_million_characters": PER_MILLION_CHARACTERS,
            "per_audio_minute": PER_AUDIO_MINUTE,
        },
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    return Audio(tts, whisper, key, user["id"], channel["id"])


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def character_cost(characters: int) -> int:
    return -(-characters * usd_to_units(PER_MILLION_CHARACTERS) // 1_000_000)


def second_cost(seconds: int) -> int:
    return -(-seconds * usd_to_units(PER_AUDIO_MINUTE) // 60)


def test_speech_streams_to_a_file_billed_per_character(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia, tmp_path: Path
) -> None:
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    text = "Welcome to the gateway — 你好, world. " * 20  # 4 chunks of audio and more
    target = tmp_path / "speech.mp3"
    client = sdk(gateway, audio.key)
    with client.audio.speech.with_streaming_response.create(
        model=audio.tts, voice="nova", input=text, response_format="mp3"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        # Streamed as it comes, not read whole first (a whole answer has a length).
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        response.stream_to_file(target)
    assert target.read_bytes() == speech_bytes(text)
    sent = media.requests[-1]
    assert sent.path == "/v1/audio/speech"
    assert sent.body == {
        "model": "tts-1",
        "voice": "nova",
        "input": text,
        "response_format": "mp3",
    }
    after = wait_for_rows(url, audio.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == character_cost(len(text)) > 0
    assert after.credits - after.usage_cost == after.spendable
    (row,) = usage_rows(url, audio.user_id)
    assert row["endpoint"] == "/v1/audio/speech" and row["model"] == audio.tts
    assert row["characters"] == len(text) and row["audio_seconds"] == 0
    assert row["status"] == 200 and row["channel_id"] == audio.channel_id


def test_speech_in_another_format_keeps_its_content_type(gateway: Gateway, audio: Audio) -> None:
    response = sdk(gateway, audio.key).audio.speech.create(
        model=audio.tts, voice="alloy", input="hi", response_format="wav"
    )
    assert response.response.headers["content-type"] == "audio/wav"
    assert response.content == speech_bytes("hi")


def test_speech_upstream_error_is_not_billed(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia
) -> None:
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    media.script(Behaviour.error(400, "voice not found"))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, audio.key).audio.speech.create(model=audio.tts, voice="x", input="hi")
    assert "voice not found" in caught.value.message
    assert "sk-upstream-test" not in caught.value.message  # scrubbed
    after = books(url, audio.user_id)
    assert after.usage_cost == before.usage_cost and after.spendable == before.spendable


def test_what_a_request_bills_is_reserved_before_the_call(
    gateway: Gateway, admin: Admin, audio: Audio, media: FakeOpenAIMedia
) -> None:
    """4,096 characters at $30 / 1M cost $0.12288: a balance of $0.12 cannot pay them, and
    the upstream is never called; 4,000 characters ($0.12) it can."""
    poor = admin.create_user(balance=0.12)
    client = sdk(gateway, admin.create_token(poor["id"])["key"])
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.speech.create(model=audio.tts, voice="nova", input="x" * 4096)
    assert caught.value.status_code == 402
    assert not media.requests
    assert client.audio.speech.create(model=audio.tts, voice="nova", input="x" * 4000).content
    after = wait_for_rows(gateway.settings.database_url, poor["id"], 1)
    assert after.usage_cost == character_cost(4000) == usd_to_units("0.12")
    assert after.spendable == 0


@pytest.mark.parametrize("seconds", [3.0, 4.2])
def test_transcription_billed_by_the_measured_seconds(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia, seconds: float
) -> None:
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    data = wav_bytes(seconds)
    result = sdk(gateway, audio.key).audio.transcriptions.create(
        model=audio.whisper, file=("speech.wav", data, "audio/wav"), language="en"
    )
    assert result.text == f"transcribed {len(data)} bytes with whisper-1"
    sent = media.requests[-1]
    assert sent.path == "/v1/audio/transcriptions"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert data in sent.raw  # the upload went on as it came
    billed = -(-int(seconds * 10) // 10)
    after = wait_for_rows(url, audio.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(billed) > 0
    (row,) = usage_rows(url, audio.user_id)
    assert row["endpoint"] == "/v1/audio/transcriptions" and row["model"] == audio.whisper
    assert row["audio_seconds"] == billed and row["cost"] == second_cost(billed)


def test_the_upstreams_reported_duration_is_billed(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia
) -> None:
    media.reported_duration = 6.4
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    result = sdk(gateway, audio.key).audio.transcriptions.create(
        model=audio.whisper,
        file=("speech.wav", wav_bytes(2.0), "audio/wav"),
        response_format="verbose_json",
    )
    assert result.duration == 6.4  # type: ignore[union-attr]
    after = wait_for_rows(url, audio.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(7)
    assert usage_rows(url, audio.user_id)[0]["audio_seconds"] == 7


@pytest.mark.parametrize(
    ("response_format", "start"),
    [("text", "transcribed "), ("srt", "1\n00:00:00,000"), ("vtt", "WEBVTT")],
)
def test_text_formats_pass_through(
    gateway: Gateway, audio: Audio, response_format: Any, start: str
) -> None:
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    result = sdk(gateway, audio.key).audio.transcriptions.create(
        model=audio.whisper,
        file=("speech.wav", wav_bytes(1.5), "audio/wav"),
        response_format=response_format,
    )
    assert isinstance(result, str) and result.startswith(start)
    after = wait_for_rows(url, audio.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(2)


def test_translation(gateway: Gateway, audio: Audio, media: FakeOpenAIMedia) -> None:
    url = gateway.settings.database_url
    before = books(url, audio.user_id)
    data = wav_bytes(5.0)
    result = sdk(gateway, audio.key).audio.translations.create(
        model=audio.whisper, file=("chinese.wav", data, "audio/wav")
    )
    assert result.text == f"translated {len(data)} bytes with whisper-1"
    assert media.requests[-1].path == "/v1/audio/translations"
    after = wait_for_rows(url, audio.user_id, before.usage_rows + 1)
    assert after.usage_cost - before.usage_cost == second_cost(5)
    row = usage_rows(url, audio.user_id)[0]
    assert row["endpoint"] == "/v1/audio/translations" and row["audio_seconds"] == 5


def test_an_upload_above_the_limit_is_413(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway, audio.key).audio.transcriptions.create(
            model=audio.whisper, file=("long.wav", wav_bytes(13.0), "audio/wav")
        )
    assert caught.value.status_code == 413
    assert str(UPLOAD_LIMIT) in caught.value.message
    body = caught.value.body
    assert isinstance(body, dict) and {"message", "type", "code"} <= set(body)
    # Without a declared length (chunked), the same limit once the body is read.
    content, content_type = form({"model": audio.whisper}, wav_bytes(13.0))
    response = httpx.post(
        gateway.url + "/v1/audio/transcriptions",
        content=iter([content[:1000], content[1000:]]),
        headers={"Authorization": f"Bearer {audio.key}", "Content-Type": content_type},
        timeout=20,
    )
    assert response.status_code == 413 and set(response.json()) == {"error"}
    assert not media.requests


def test_a_file_that_is_not_audio_is_400(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway, audio.key).audio.transcriptions.create(
            model=audio.whisper, file=("notes.mp3", b"plain text, not audio" * 50, "audio/mpeg")
        )
    assert "cannot be read" in caught.value.message
    assert not media.requests


def test_unknown_models_are_404(gateway: Gateway, audio: Audio) -> None:
    client = sdk(gateway, audio.key)
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model=unique_model("nope"), voice="alloy", input="hi")
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.transcriptions.create(
            model=unique_model("nope"), file=("a.wav", wav_bytes(1.0), "audio/wav")
        )
    assert "does not exist" in caught.value.message


def test_a_key_without_the_audio_permission_gets_403(
    gateway: Gateway, admin: Admin, audio: Audio, media: FakeOpenAIMedia
) -> None:
    chat_only = sdk(gateway, admin.create_token(audio.user_id, permissions=["chat"])["key"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat_only.audio.speech.create(model=audio.tts, voice="alloy", input="hi")
    assert "'audio' permission" in caught.value.message
    for create in (chat_only.audio.transcriptions.create, chat_only.audio.translations.create):
        with pytest.raises(openai.PermissionDeniedError):
            create(model=audio.whisper, file=("a.wav", wav_bytes(1.0), "audio/wav"))
    assert not media.requests
    audio_only = sdk(gateway, admin.create_token(audio.user_id, permissions=["audio"])["key"])
    assert audio_only.audio.speech.create(model=audio.tts, voice="alloy", input="hi").content


def test_the_model_list_shows_audio(gateway: Gateway, audio: Audio) -> None:
    listed = {m.id: m for m in sdk(gateway, audio.key).models.list()}
    assert audio.tts in listed and audio.whisper in listed
    assert (listed[audio.tts].model_extra or {}).get("endpoints") == ["audio"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"voice": "alloy", "input": "x" * 4097}, "at most 4096"),
        ({"voice": "alloy", "input": "hi", "response_format": "ogg"}, "response_format"),
        ({"voice": "alloy", "input": "hi", "speed": 9}, "'speed'"),
        ({"input": "hi"}, "'voice'"),
    ],
)
def test_bad_speech_bodies_are_400(
    gateway: Gateway, audio: Audio, media: FakeOpenAIMedia, body: dict[str, Any], fragment: str
) -> None:
    response = httpx.post(
        gateway.url + "/v1/audio/speech",
        json={"model": audio.tts, **body},
        headers={"Authorization": f"Bearer {audio.key}"},
        timeout=20,
    )
    assert response.status_code == 400 and fragment in response.json()["error"]["message"]
    assert not media.requests
