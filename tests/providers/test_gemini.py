"""Gemini requests: the model and the action in the URL (``alt=sse`` when streamed), the key
in ``x-goog-api-key``, ``/v1beta`` added unless the base URL names a version."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.gemini import Gemini

GEMINI = Gemini()
ROOT = "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize(
    ("base_url", "prefix"),
    [
        (ROOT, ROOT + "/v1beta"),
        (ROOT + "/", ROOT + "/v1beta"),
        (ROOT + "/v1", ROOT + "/v1"),
        (ROOT + "/v1alpha/", ROOT + "/v1alpha"),
    ],
)
def test_model_and_action_in_the_url(base_url: str, prefix: str) -> None:
    whole = GEMINI.head(base_url, "g-key", Endpoint.CHAT, "gemini-2.5-flash", stream=False)
    streamed = GEMINI.head(base_url, "g-key", Endpoint.CHAT, "gemini-2.5-flash", stream=True)
    assert whole.url == prefix + "/models/gemini-2.5-flash:generateContent"
    assert streamed.url == prefix + "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def test_a_model_name_cannot_change_the_path() -> None:
    head = GEMINI.head(ROOT, "k", Endpoint.CHAT, "tuned/../x y", stream=False)
    assert head.url == ROOT + "/v1beta/models/tuned%2F..%2Fx%20y:generateContent"


def test_headers_and_format() -> None:
    head = GEMINI.head(ROOT, "g-key", Endpoint.CHAT, "m", stream=False)
    assert dict(head.headers) == {"x-goog-api-key": "g-key", "Content-Type": "application/json"}
    assert GEMINI.formats == {
        Endpoint.CHAT: WireFormat.GEMINI,
        Endpoint.IMAGES: WireFormat.GEMINI_IMAGES,
        Endpoint.EMBEDDINGS: WireFormat.GEMINI_EMBEDDINGS,
    }
    assert GEMINI.default_endpoints == {Endpoint.CHAT}  # image models: endpoints=["images"]
    images = GEMINI.head(ROOT, "k", Endpoint.IMAGES, "gemini-2.5-flash-image", stream=False)
    assert images.url == ROOT + "/v1beta/models/gemini-2.5-flash-image:generateContent"
    embed = GEMINI.head(ROOT, "k", Endpoint.EMBEDDINGS, "gemini-embedding-001", stream=False)
    assert embed.url == ROOT + "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    with pytest.raises(ValueError):
        GEMINI.head(ROOT, "k", Endpoint.RERANK, "m", stream=False)
