"""DashScope (Alibaba Cloud Model Studio, Qwen): OpenAI-compatible for chat, embeddings and
the rest (``.../compatible-mode/v1``), and its native text rerank (``gte-rerank``), which
has a shape of its own (``formats.dashscope_rerank``) at a path outside compatible mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.base import Head
from airelay.providers.openai import OpenAICompatible

RERANK_PATH = "/api/v1/services/rerank/text-rerank/text-rerank"


def native_root(base_url: str) -> str:
    """The service's root for its native APIs: the compatible-mode base URL without
    ``/compatible-mode/...`` (``https://dashscope.aliyuncs.com``), or the URL's origin."""
    url = base_url.rstrip("/")
    cut = url.find("/compatible-mode")
    if cut >= 0:
        return url[:cut]
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("/", 1)[0]


class DashScope(OpenAICompatible):
    formats: Mapping[Endpoint, WireFormat] = {
        **OpenAICompatible.formats,
        Endpoint.RERANK: WireFormat.DASHSCOPE_RERANK,
    }

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is Endpoint.RERANK:
            return Head(
                native_root(base_url) + RERANK_PATH,
                {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
            )
        return super().head(base_url, key, endpoint, model, stream=stream)
