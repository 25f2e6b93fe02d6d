"""OpenAI's video API (Sora): ``POST /videos`` (multipart form, as the official SDK sends
it), ``GET /videos/{id}``, and the finished video's bytes at ``GET /videos/{id}/content``.
Also any upstream that copies it."""

from __future__ import annotations

import secrets

from airelay.formats.video import TaskStatus, VideoRequest
from airelay.providers.video_base import HttpRequest, UpstreamTask, document, number

_STATUS = {
    "queued": TaskStatus.QUEUED,
    "in_progress": TaskStatus.RUNNING,
    "completed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
}


def _form(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "airelay" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


class OpenAIVideos:
    def create(self, base_url: str, key: str, model: str, request: VideoRequest) -> HttpRequest:
        fields = {"model": model, "prompt": request.prompt, "seconds": str(request.seconds)}
        if request.size is not None:
            fields["size"] = request.size.replace("*", "x")
        first = request.first("first_frame")
        if first is not None:
            fields["input_reference[image_url]"] = first.url
        body, content_type = _form(fields)
        headers = {"Authorization": "Bearer " + key, "Content-Type": content_type}
        return HttpRequest("POST", base_url.rstrip("/") + "/videos", headers, body)

    def created(self, body: bytes, request: VideoRequest) -> str:
        task_id = document(body).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("the upstream's answer has no video id")
        return task_id

    def poll(self, base_url: str, key: str, upstream_id: str) -> HttpRequest:
        url = f"{base_url.rstrip('/')}/videos/{upstream_id}"
        return HttpRequest("GET", url, {"Authorization": "Bearer " + key})

    def status(self, body: bytes) -> UpstreamTask:
        video = document(body)
        status = _STATUS.get(str(video.get("status")))
        if status is None:
            raise ValueError(f"unknown video status {str(video.get('status'))[:40]!r}")
        error = video.get("error") if isinstance(video.get("error"), dict) else {}
        progress = video.get("progress")
        return UpstreamTask(
            status=status,
            progress=progress if isinstance(progress, int) else 0,
            seconds=number(video.get("seconds")),
            error_code=error.get("code") if error else None,
            error_message=error.get("message") if error else None,
        )

    def cancel(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        url = f"{base_url.rstrip('/')}/videos/{upstream_id}"
        return HttpRequest("DELETE", url, {"Authorization": "Bearer " + key})

    def content(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        url = f"{base_url.rstrip('/')}/videos/{upstream_id}/content"
        return HttpRequest("GET", url, {"Authorization": "Bearer " + key})

    def check_key(self, key: str) -> None:
        return None
