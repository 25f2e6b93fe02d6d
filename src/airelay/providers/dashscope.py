"""DashScope's native API (Alibaba Model Studio: Wan and Qwen image models) for image
synthesis, an asynchronous task: the submit carries ``X-DashScope-Async: enable`` and
answers a task id; ``GET {base}/api/v1/tasks/{task_id}`` reads its status (``task_head``).

``base_url`` is ``https://dashscope.aliyuncs.com/api/v1`` (or the ``dashscope-intl`` /
``dashscope-us`` ones of the other regions); the bare origin is taken too. DashScope's chat
models are the ``qwen`` channel type (its OpenAI-compatible mode); this type serves images
and, as video tasks, video.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import Head, Plain, unserved

SYNTHESIS_PATH = "/api/v1/services/aigc/text2image/image-synthesis"
TASKS_PATH = "/api/v1/tasks/"


class DashScope(Plain):
    formats: Mapping[Endpoint, WireFormat] = {Endpoint.IMAGES: WireFormat.DASHSCOPE_IMAGES}
    # Video synthesis is a video task (``providers.video_dashscope``), not a relayed call.
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.IMAGES, Endpoint.VIDEO})
    default_endpoints: frozenset[Endpoint] = endpoints
    framing = Framing.SSE

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint not in self.formats:
            raise unserved(self, endpoint)
        return Head(
            _origin(base_url) + SYNTHESIS_PATH,
            {
                "Authorization": "Bearer " + key,
                "Content-Type": "application/json",
                "X-DashScope-Async": "enable",
            },
        )

    def task_head(self, base_url: str, key: str, task_id: str) -> Head:
        return Head(
            _origin(base_url) + TASKS_PATH + quote(task_id, safe=""),
            {"Authorization": "Bearer " + key},
        )


def _origin(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root.removesuffix("/api/v1")
