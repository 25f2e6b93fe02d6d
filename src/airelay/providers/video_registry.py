"""Which video task protocol each channel type speaks (a type absent here serves no video)."""

from __future__ import annotations

from airelay.providers.video_ark import ArkVideos
from airelay.providers.video_base import VideoTasks
from airelay.providers.video_dashscope import DashScopeVideos
from airelay.providers.video_kling import KlingVideos
from airelay.providers.video_openai import OpenAIVideos

VIDEO_TASKS: dict[str, VideoTasks] = {
    "openai": OpenAIVideos(),
    "doubao": ArkVideos(),
    "kling": KlingVideos(),
    "dashscope": DashScopeVideos(),
}


def video_tasks(channel_type: str) -> VideoTasks | None:
    return VIDEO_TASKS.get(channel_type)
