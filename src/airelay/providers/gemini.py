"""Google's Gemini API (generativelanguage, v1beta): the model is in the URL, the key in
``x-goog-api-key``; streams are asked for as SSE (``alt=sse``)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import Head, Plain, unserved


class Gemini(Plain):
    """``base_url`` is what the google-genai SDK takes
    (``https://generativelanguage.googleapis.com``); a version suffix is tolerated."""

    formats: Mapping[Endpoint, WireFormat] = {
        Endpoint.CHAT: WireFormat.GEMINI,
        # Image models answer generateContent with inline images (formats.gemini_images).
        Endpoint.IMAGES: WireFormat.GEMINI_IMAGES,
        # Embeddings always by the batch method (formats.gemini_embeddings).
        Endpoint.EMBEDDINGS: WireFormat.GEMINI_EMBEDDINGS,
    }
    endpoints: frozenset[Endpoint] = frozenset(formats)
    default_endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    framing = Framing.SSE

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint not in self.formats:
            raise unserved(self, endpoint)
        if endpoint is Endpoint.EMBEDDINGS:
            action = "batchEmbedContents"
        else:
            action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{_versioned(base_url)}/models/{quote(model, safe='')}:{action}"
        return Head(url, {"x-goog-api-key": key, "Content-Type": "application/json"})

    def models_head(self, base_url: str, key: str) -> Head:
        """``GET .../v1beta/models``: the channel test's free probe of image models."""
        return Head(f"{_versioned(base_url)}/models", {"x-goog-api-key": key})


def _versioned(base_url: str) -> str:
    root = base_url.rstrip("/")
    if root.endswith(("/v1beta", "/v1", "/v1alpha")):
        return root
    return root + "/v1beta"
