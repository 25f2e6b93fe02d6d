"""The DashScope provider: the image synthesis submit (asynchronous) and the task GET."""

from __future__ import annotations

import pytest

from airelay.formats.names import Endpoint, WireFormat
from airelay.providers.base import TaskPolling
from airelay.providers.dashscope import DashScope
from airelay.providers.presets import preset

DASHSCOPE = DashScope()
ROOT = "https://dashscope.aliyuncs.com"


@pytest.mark.parametrize("base_url", [ROOT, ROOT + "/", ROOT + "/api/v1", ROOT + "/api/v1/"])
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
    head = DASHSCOPE.task_head(ROOT, "sk-d", "a/../b c")
    assert head.url == ROOT + "/api/v1/tasks/a%2F..%2Fb%20c"
    assert dict(head.headers) == {"Authorization": "Bearer sk-d"}


def test_serves_images_and_video_tasks_and_is_a_preset() -> None:
    assert DASHSCOPE.formats == {Endpoint.IMAGES: WireFormat.DASHSCOPE_IMAGES}
    assert DASHSCOPE.default_endpoints == {Endpoint.IMAGES, Endpoint.VIDEO}  # video: tasks
    with pytest.raises(ValueError):
        DASHSCOPE.head(ROOT, "k", Endpoint.CHAT, "m", stream=False)
    assert preset("dashscope").provider.formats == DASHSCOPE.formats
    assert preset("dashscope").base_url == ROOT + "/api/v1"
