"""OpenAI-compatible upstreams: OpenAI itself and the many providers that copy its API."""

from __future__ import annotations

from collections.abc import Mapping

from airelay.formats.names import IMPLIED, Endpoint, Framing, WireFormat
from airelay.providers.base import Head, Plain, unserved

# The path of each endpoint's main operation below the base URL (``.../v1``).
PATHS = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.RESPONSES: "/responses",
    Endpoint.COMPACT: "/responses/compact",
    Endpoint.EMBEDDINGS: "/embeddings",
    Endpoint.RERANK: "/rerank",
    Endpoint.IMAGES: "/images/generations",
    Endpoint.AUDIO: "/audio/speech",
    Endpoint.VIDEO: "/videos",
}
# The audio endpoint's operations (``names.PARTS``), which calls route by.
PART_PATHS = {
    Endpoint.SPEECH: "/audio/speech",
    Endpoint.TRANSCRIPTIONS: "/audio/transcriptions",
    Endpoint.TRANSLATIONS: "/audio/translations",
}
# Endpoints whose bodies are forms: the call's own content type (its boundary) is sent.
FORMS = frozenset({Endpoint.TRANSCRIPTIONS, Endpoint.TRANSLATIONS})


class OpenAICompatible(Plain):
    """``base_url`` is what the OpenAI SDK takes (``https://api.deepseek.com/v1``).

    OpenAI serves every endpoint; a compatible upstream serves chat, and the others only
    when its channel says so (``endpoints``): many copy the chat API and nothing else."""

    formats: Mapping[Endpoint, WireFormat] = {
        Endpoint.CHAT: WireFormat.OPENAI,
        Endpoint.RESPONSES: WireFormat.RESPONSES,
        Endpoint.COMPACT: WireFormat.RESPONSES_COMPACT,
        Endpoint.EMBEDDINGS: WireFormat.OPENAI_EMBEDDINGS,
        Endpoint.IMAGES: WireFormat.OPENAI_IMAGES,
        Endpoint.RERANK: WireFormat.RERANK,
        Endpoint.SPEECH: WireFormat.OPENAI_SPEECH,
        Endpoint.TRANSCRIPTIONS: WireFormat.OPENAI_TRANSCRIPTION,
        Endpoint.TRANSLATIONS: WireFormat.OPENAI_TRANSCRIPTION,
    }
    endpoints: frozenset[Endpoint] = frozenset(PATHS) - IMPLIED.keys()
    default_endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    framing = Framing.SSE

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        path = PATHS.get(endpoint) or PART_PATHS.get(endpoint)
        if path is None:
            raise unserved(self, endpoint)
        if endpoint in FORMS:
            return Head(base_url.rstrip("/") + path, {"Authorization": "Bearer " + key})
        return Head(
            base_url.rstrip("/") + path,
            {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
        )

    def models_head(self, base_url: str, key: str) -> Head:
        """``GET {base_url}/models``: the free request the channel test probes images and
        audio with."""
        return Head(base_url.rstrip("/") + "/models", {"Authorization": "Bearer " + key})


class SiliconFlow(OpenAICompatible):
    """SiliconFlow (``https://api.siliconflow.cn/v1``): OpenAI-compatible, but its rerank
    takes documents as strings only and reports its tokens its own way
    (``formats.siliconflow_rerank``)."""

    formats: Mapping[Endpoint, WireFormat] = {
        **OpenAICompatible.formats,
        Endpoint.RERANK: WireFormat.SILICONFLOW_RERANK,
    }
