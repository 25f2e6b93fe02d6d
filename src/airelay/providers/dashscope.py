"""DashScope (Alibaba Cloud Model Studio: Qwen, Wan): OpenAI-compatible for chat, embeddings
and the rest (``.../compatible-mode/v1``); its native text rerank (``gte-rerank``), which has
a shape of its own (``formats.dashscope_rerank``); and its native image synthesis, an
asynchronous task: the submit carries ``X-DashScope-Async: enable`` and answers a task id,
``GET {root}/api/v1/tasks/{task_id}`` reads its status (``task_head``). Video synthesis is a
video task (``providers.video_dashscope``), not a relayed call.

``base_url`` is either the compatible-mode one (``https://dashscope.aliyuncs.com/
compatible-mode/v1``, the ``qwen`` channel type) or the native API's
(``https://dashscope.aliyuncs.com/api/v1``, the ``dashscope`` type, which video tasks take),
or another region's (``dashscope-intl``, ``dashscope-us``); each call finds its own path
from either.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.base import Head
from airelay.providers.openai import OpenAICompatible

RERANK_PATH = "/api/v1/services/rerank/text-rerank/text-rerank"
SYNTHESIS_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
TASKS_PATH = "/api/v1/tasks/"
COMPATIBLE_PATH = "/compatible-mode/v1"
NATIVE_PATH = "/api/v1"


def native_root(base_url: str) -> str:
    """The service's root for its native APIs: the compatible-mode base URL without
    ``/compatible-mode/...`` (``https://dashscope.aliyuncs.com``), or the URL's origin."""
    url = base_url.rstrip("/")
    cut = url.find("/compatible-mode")
    if cut >= 0:
        return url[:cut]
    scheme, sep, rest = url.partition("://")
    return scheme + sep + rest.split("/", 1)[0]


def compatible_base(base_url: str) -> str:
    """The base URL of the OpenAI-compatible calls: the native API's (``.../api/v1``) is
    turned into the compatible mode's on the same root; any other is taken as it is."""
    url = base_url.rstrip("/")
    return native_root(url) + COMPATIBLE_PATH if url.endswith(NATIVE_PATH) else url


class DashScope(OpenAICompatible):
    formats: Mapping[Endpoint, WireFormat] = {
        **OpenAICompatible.formats,
        Endpoint.RERANK: WireFormat.DASHSCOPE_RERANK,
        Endpoint.IMAGES: WireFormat.DASHSCOPE_IMAGES,
    }
    # VIDEO is served by the video task adapter (providers.video_dashscope).
    endpoints: frozenset[Endpoint] = OpenAICompatible.endpoints | {Endpoint.IMAGES, Endpoint.VIDEO}

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is Endpoint.RERANK:
            return Head(
                native_root(base_url) + RERANK_PATH,
                {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
            )
        if endpoint is Endpoint.IMAGES:
            return Head(
                native_root(base_url) + SYNTHESIS_PATH,
                {
                    "Authorization": "Bearer " + key,
                    "Content-Type": "application/json",
                    "X-DashScope-Async": "enable",
                },
            )
        return super().head(compatible_base(base_url), key, endpoint, model, stream=stream)

    def models_head(self, base_url: str, key: str) -> Head:
        return super().models_head(compatible_base(base_url), key)

    def task_head(self, base_url: str, key: str, task_id: str) -> Head:
        return Head(
            native_root(base_url) + TASKS_PATH + quote(task_id, safe=""),
            {"Authorization": "Bearer " + key},
        )


class DashScopeNative(DashScope):
    """The ``dashscope`` channel type (its base URL the native API's): the same upstream,
    serving image synthesis and video tasks unless its channel names other endpoints."""

    default_endpoints: frozenset[Endpoint] = frozenset({Endpoint.IMAGES, Endpoint.VIDEO})
