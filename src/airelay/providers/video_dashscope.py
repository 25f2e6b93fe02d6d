"""Alibaba Cloud DashScope video synthesis (Wan): ``POST {base}/services/aigc/video-generation/
video-synthesis`` with ``X-DashScope-Async: enable`` and ``{model, input: {prompt, img_url |
first_frame_url, last_frame_url}, parameters: {resolution, size, duration, seed}}``, then
``GET {base}/tasks/{task_id}`` until ``output.task_status`` is ``SUCCEEDED``
(``output.video_url``, ``usage.video_duration``) or ``FAILED``/``CANCELED``/``UNKNOWN``.
``base`` is ``https://dashscope.aliyuncs.com/api/v1``."""

from __future__ import annotations

from typing import Any

from airelay.formats.video import TaskStatus, VideoRequest
from airelay.providers.video_base import HttpRequest, UpstreamTask, document, json_request, number

_STATUS = {
    "PENDING": TaskStatus.QUEUED,
    "RUNNING": TaskStatus.RUNNING,
    "SUCCEEDED": TaskStatus.SUCCEEDED,
    "FAILED": TaskStatus.FAILED,
    "CANCELED": TaskStatus.CANCELLED,
    "UNKNOWN": TaskStatus.FAILED,  # expired or never known: it will not finish
}
_PROGRESS = {TaskStatus.QUEUED: 0, TaskStatus.RUNNING: 50, TaskStatus.SUCCEEDED: 100}


class DashScopeVideos:
    def create(self, base_url: str, key: str, model: str, request: VideoRequest) -> HttpRequest:
        given: dict[str, Any] = {"prompt": request.prompt}
        first, last = request.first("first_frame"), request.first("last_frame")
        if first is not None and last is not None:
            given["first_frame_url"] = first.url
            given["last_frame_url"] = last.url
        elif first is not None:
            given["img_url"] = first.url
        parameters: dict[str, Any] = {"duration": request.seconds}
        if request.resolution is not None:
            parameters["resolution"] = request.resolution.upper()
        if request.size is not None:
            parameters["size"] = request.size.replace("x", "*")
        if request.seed is not None:
            parameters["seed"] = request.seed
        url = base_url.rstrip("/") + "/services/aigc/video-generation/video-synthesis"
        headers = {"Authorization": "Bearer " + key, "X-DashScope-Async": "enable"}
        return json_request(
            url, headers, {"model": model, "input": given, "parameters": parameters}
        )

    def created(self, body: bytes, request: VideoRequest) -> str:
        output = document(body).get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("the upstream's answer has no task id")
        return task_id

    def poll(self, base_url: str, key: str, upstream_id: str) -> HttpRequest:
        url = f"{base_url.rstrip('/')}/tasks/{upstream_id}"
        return HttpRequest("GET", url, {"Authorization": "Bearer " + key})

    def status(self, body: bytes) -> UpstreamTask:
        answer = document(body)
        output = answer.get("output")
        if not isinstance(output, dict):
            raise ValueError("the upstream's answer has no output")
        status = _STATUS.get(str(output.get("task_status")))
        if status is None:
            raise ValueError(f"unknown task status {str(output.get('task_status'))[:40]!r}")
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        seconds = number(usage.get("video_duration") or usage.get("duration")) if usage else None
        url = output.get("video_url")
        results = output.get("results")
        if url is None and isinstance(results, dict):  # some models answer it there
            url = results.get("video_url")
        code = output.get("code")
        return UpstreamTask(
            status=status,
            progress=_PROGRESS.get(status, 0),
            video_url=url if isinstance(url, str) else None,
            seconds=seconds,
            error_code=str(code) if code is not None else None,
            error_message=output.get("message") if isinstance(output.get("message"), str) else None,
        )

    def cancel(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        """Only a task still ``PENDING`` can be cancelled."""
        url = f"{base_url.rstrip('/')}/tasks/{upstream_id}/cancel"
        return HttpRequest("POST", url, {"Authorization": "Bearer " + key})

    def content(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        return None

    def check_key(self, key: str) -> None:
        return None
