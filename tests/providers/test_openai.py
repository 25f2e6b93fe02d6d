"""OpenAI-compatible requests: the path of each endpoint below the SDK's base URL, the key as
a bearer token, the body as it is."""

from __future__ import annotations

import pytest
from support.egress import NOWHERE

from airelay.formats.names import DECLARABLE, WHOLE, Endpoint, WireFormat
from airelay.providers.base import build
from airelay.providers.openai import OpenAICompatible

OPENAI = OpenAICompatible()


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.deepseek.com/v1", "https://api.deepseek.com/v1/chat/completions"),
        ("https://api.deepseek.com/v1/", "https://api.deepseek.com/v1/chat/completions"),
        (
            "https://ark.cn-beijing.volces.com/api/v3",
            "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
        ),
    ],
)
def test_chat_url_follows_the_sdk_base_url(base_url: str, url: str) -> None:
    for stream in (False, True):
        head = OPENAI.head(base_url, "sk-1", Endpoint.CHAT, "m", stream=stream)
        assert head.url == url
        assert head.encoded is False


def test_headers_carry_the_key_as_bearer() -> None:
    head = OPENAI.head("https://x/v1", "sk-abc", Endpoint.CHAT, "m", stream=False)
    assert dict(head.headers) == {
        "Authorization": "Bearer sk-abc",
        "Content-Type": "application/json",
    }


def test_other_endpoints_and_formats() -> None:
    assert OPENAI.formats[Endpoint.CHAT] is WireFormat.OPENAI
    assert OPENAI.default_endpoints == {Endpoint.CHAT}
    # Every endpoint a channel may list: compaction comes with ``responses``, the audio
    # operations with ``audio``.
    assert set(DECLARABLE) == OPENAI.endpoints == set(Endpoint) - {Endpoint.COMPACT} - set(WHOLE)
    urls = {
        endpoint: OPENAI.head("https://api.openai.com/v1", "k", endpoint, "m", stream=False).url
        for endpoint in (
            Endpoint.RESPONSES,
            Endpoint.COMPACT,
            Endpoint.EMBEDDINGS,
            Endpoint.IMAGES,
            Endpoint.RERANK,
            Endpoint.SPEECH,
            Endpoint.TRANSCRIPTIONS,
            Endpoint.TRANSLATIONS,
        )
    }
    assert urls == {
        Endpoint.RESPONSES: "https://api.openai.com/v1/responses",
        Endpoint.COMPACT: "https://api.openai.com/v1/responses/compact",
        Endpoint.EMBEDDINGS: "https://api.openai.com/v1/embeddings",
        Endpoint.IMAGES: "https://api.openai.com/v1/images/generations",
        Endpoint.RERANK: "https://api.openai.com/v1/rerank",
        Endpoint.SPEECH: "https://api.openai.com/v1/audio/speech",
        Endpoint.TRANSCRIPTIONS: "https://api.openai.com/v1/audio/transcriptions",
        Endpoint.TRANSLATIONS: "https://api.openai.com/v1/audio/translations",
    }
    assert OPENAI.formats[Endpoint.IMAGES] is WireFormat.OPENAI_IMAGES
    assert OPENAI.formats[Endpoint.RERANK] is WireFormat.RERANK
    assert OPENAI.formats[Endpoint.SPEECH] is WireFormat.OPENAI_SPEECH
    assert OPENAI.formats[Endpoint.TRANSLATIONS] is WireFormat.OPENAI_TRANSCRIPTION


def test_a_form_upload_carries_no_content_type_of_its_own() -> None:
    """A transcription's body is the client's form: its own content type (with the
    boundary) is sent with it, per call; the head must not add a second one."""
    for endpoint in (Endpoint.TRANSCRIPTIONS, Endpoint.TRANSLATIONS):
        head = OPENAI.head("https://x/v1", "k", endpoint, "m", stream=False)
        assert dict(head.headers) == {"Authorization": "Bearer k"}


def test_a_plain_provider_sends_the_body_as_it_is() -> None:
    assert OPENAI.per_call is False
    body = b'{"model":"m"}'
    request = build(
        OPENAI, "https://x/v1", "k", Endpoint.CHAT, "m", body, stream=True, egress=NOWHERE
    )
    assert request.body == b'{"model":"m"}'
    assert request.headers["Authorization"] == "Bearer k"
