"""DashScope (the ``qwen`` and ``dashscope`` channel types): OpenAI-compatible for chat and
the rest, its native text rerank at a path of its own, outside compatible mode, and its
native image synthesis (an asynchronous submit, then the task GET)."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.base import TaskPolling
from airelay.providers.dashscope import DashScope, native_root
from airelay.providers.presets import preset

DASHSCOPE = DashScope()
ROOT = "https://dashscope.aliyuncs.com"


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com"),
        (
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
            "https://dashscope-intl.aliyuncs.com",
        ),
        ("https://dashscope.aliyuncs.com/api/v1", "https://dashscope.aliyuncs.com"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
    ],
)
def test_native_root(base_url: str, root: str) -> None:
    assert native_root(base_url) == root


def test_rerank_is_native_and_chat_compatible() -> None:
    base = "https://dashscope.aliyuncs.com/compatible-mode/v1"
    rerank = DASHSCOPE.head(base, "sk-1", Endpoint.RERANK, "gte-rerank", stream=False)
    assert rerank.url == (
        "https://dashscope.aliyuncs.com/api/v1/services/rerank/text-rerank/text-rerank"
    )
    assert dict(rerank.headers) == {
        "Authorization": "Bearer sk-1",
        "Content-Type": "application/json",
    }
    chat = DASHSCOPE.head(base, "sk-1", Endpoint.CHAT, "qwen-max", stream=True)
    assert chat.url == base + "/chat/completions"
    assert DASHSCOPE.formats[Endpoint.RERANK] is WireFormat.DASHSCOPE_RERANK
    assert DASHSCOPE.formats[Endpoint.CHAT] is WireFormat.OPENAI
    assert isinstance(preset("qwen").provider, DashScope)


def test_chat_on_the_native_base_url_goes_to_compatible_mode() -> None:
    chat = DASHSCOPE.head(ROOT + "/api/v1/", "sk-1", Endpoint.CHAT, "qwen-max", stream=True)
    assert chat.url == ROOT + "/compatible-mode/v1/chat/completions"


@pytest.mark.parametrize(
    "base_url",
    [ROOT, ROOT + "/", ROOT + "/api/v1", ROOT + "/api/v1/", ROOT + "/compatible-mode/v1"],
)
def test_submit_head(base_url: str) -> None:
    head = DASHSCOPE.head(base_url, "sk-d", Endpoint.IMAGES, "wan2.2-t2i-flash", stream=False)
    assert head.url == ROOT + "/api/v1/services/aigc/text2image/image-synthesis"
    assert dict(head.headers) == {
        "Authorization": "Bearer sk-d",
        "Content-Type": "application/json",
        "X-DashScope-Async": "enable",
    }


def test_task_head_quotes_the_id() -> None:
    assert isinstance(DASHSCOPE, TaskPolling)
    head = DASHSCOPE.task_head(ROOT + "/compatible-mode/v1", "sk-d", "a/../b c")
    assert head.url == ROOT + "/api/v1/tasks/a%2F..%2Fb%20c"
    assert dict(head.headers) == {"Authorization": "Bearer sk-d"}


def test_serves_images_and_video_tasks_and_is_a_preset() -> None:
    assert DASHSCOPE.formats[Endpoint.IMAGES] is WireFormat.DASHSCOPE_IMAGES
    assert {Endpoint.IMAGES, Endpoint.VIDEO, Endpoint.RERANK} <= DASHSCOPE.endpoints
    assert DASHSCOPE.default_endpoints == {Endpoint.CHAT}  # the qwen type
    native = preset("dashscope").provider
    assert isinstance(native, DashScope)
    assert native.formats == DASHSCOPE.formats
    assert native.default_endpoints == {Endpoint.IMAGES, Endpoint.VIDEO}  # video: tasks
    assert preset("dashscope").base_url == ROOT + "/api/v1"
