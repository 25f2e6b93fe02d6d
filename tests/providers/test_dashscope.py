"""DashScope (the ``qwen`` channel type): OpenAI-compatible for chat and the rest, and its
native text rerank at a path of its own, outside compatible mode."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.dashscope import DashScope, native_root
from airelay.providers.presets import preset

DASHSCOPE = DashScope()


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", "https://dashscope.aliyuncs.com"),
        (
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/",
            "https://dashscope-intl.aliyuncs.com",
        ),
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
