"""ByteDance's Ark (Volcengine) content generation tasks (Seedance):
``POST {base}/contents/generations/tasks`` with ``content[]`` (a text item, image items
with their ``role``) and the ``duration``, ``resolution``, ``ratio``, ``seed`` parameters;
``GET {base}/contents/generations/tasks/{id}`` until ``succeeded`` (``content.video_url``)
or ``failed``/``cancelled``/``expired``. ``base`` is ``https://ark.cn-beijing.volces.com/api/v3``."""

from __future__ import annotations

from typing import Any

from airelay.formats.video import TaskStatus, VideoRequest
from airelay.providers.video_base import HttpRequest, UpstreamTask, document, json_request, number

_STATUS = {
    "queued": TaskStatus.QUEUED,
    "running": TaskStatus.RUNNING,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
    "expired": TaskStatus.FAILED,
}
_PROGRESS = {TaskStatus.QUEUED: 0, TaskStatus.RUNNING: 50, TaskStatus.SUCCEEDED: 100}
_KEY = {"image": "image_url", "video": "video_url", "audio": "audio_url"}
_ROLE = {"reference_image": "reference_image", "reference_video": "reference_video"}


class ArkVideos:
    def create(self, base_url: str, key: str, model: str, request: VideoRequest) -> HttpRequest:
        content: list[dict[str, Any]] = []
        if request.prompt:
            content.append({"type": "text", "text": request.prompt})
        for item in request.media:
            field = _KEY[item.kind]
            content.append({"type": field, field: {"url": item.url}, "role": item.role})
        body: dict[str, Any] = {"model": model, "content": content, "duration": request.seconds}
        if request.resolution is not None:
            body["resolution"] = request.resolution.lower()
        if request.aspect_ratio is not None:
            body["ratio"] = request.aspect_ratio
        if request.seed is not None:
            body["seed"] = request.seed
        url = base_url.rstrip("/") + "/contents/generations/tasks"
        return json_request(url, {"Authorization": "Bearer " + key}, body)

    def created(self, body: bytes, request: VideoRequest) -> str:
        task_id = document(body).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("the upstream's answer has no task id")
        return task_id

    def poll(self, base_url: str, key: str, upstream_id: str) -> HttpRequest:
        url = f"{base_url.rstrip('/')}/contents/generations/tasks/{upstream_id}"
        return HttpRequest("GET", url, {"Authorization": "Bearer " + key})

    def status(self, body: bytes) -> UpstreamTask:
        task = document(body)
        status = _STATUS.get(str(task.get("status")))
        if status is None:
            raise ValueError(f"unknown task status {str(task.get('status'))[:40]!r}")
        content = task.get("content") if isinstance(task.get("content"), dict) else {}
        error = task.get("error") if isinstance(task.get("error"), dict) else {}
        url = content.get("video_url") if content else None
        return UpstreamTask(
            status=status,
            progress=_PROGRESS.get(status, 0),
            video_url=url if isinstance(url, str) else None,
            seconds=number(task.get("duration")),
            error_code=str(error["code"]) if error and error.get("code") is not None else None,
            error_message=error.get("message") if error else None,
        )

    def cancel(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        """DELETE cancels a queued task (and deletes a finished one's record)."""
        url = f"{base_url.rstrip('/')}/contents/generations/tasks/{upstream_id}"
        return HttpRequest("DELETE", url, {"Authorization": "Bearer " + key})

    def content(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        return None

    def check_key(self, key: str) -> None:
        return None
