"""Kling (Kuaishou): ``POST {base}/v1/videos/text2video`` (or ``image2video`` with a first
frame in ``image`` and a last one in ``image_tail``), ``GET {base}/v1/videos/{kind}/{id}``,
answers wrapped as ``{code, message, data: {task_id, task_status, task_result}}``.

Its credential is an access key and a secret key (the channel's key is
``ACCESS_KEY:SECRET_KEY``): each request carries a JWT (HS256, ``iss`` the access key,
valid 30 minutes) signed with the secret key. The task's kind travels in the id the gateway
keeps (``text2video/123``), since polling needs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson

from airelay.formats.video import TaskStatus, VideoRequest
from airelay.providers.video_base import HttpRequest, UpstreamTask, document, json_request, number

_STATUS = {
    "submitted": TaskStatus.QUEUED,
    "processing": TaskStatus.RUNNING,
    "succeed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
}
_PROGRESS = {TaskStatus.QUEUED: 0, TaskStatus.RUNNING: 50, TaskStatus.SUCCEEDED: 100}
_KINDS = ("text2video", "image2video")
TOKEN_SECONDS = 1800


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(access_key: str, secret_key: str, now: float) -> str:
    """The HS256 token Kling's API takes as a Bearer credential."""
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims = {"iss": access_key, "exp": int(now) + TOKEN_SECONDS, "nbf": int(now) - 5}
    payload = _b64(orjson.dumps(claims))
    signing = f"{header}.{payload}".encode()
    signature = hmac.new(secret_key.encode(), signing, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def check_kling_key(key: str) -> None:
    """A channel's Kling key must be ``ACCESS_KEY:SECRET_KEY`` (``ValueError`` otherwise)."""
    _split(key)


def _split(key: str) -> tuple[str, str]:
    access, sep, secret = key.partition(":")
    if not sep or not access or not secret:
        raise ValueError("a Kling key is ACCESS_KEY:SECRET_KEY")
    return access, secret


class KlingVideos:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def _auth(self, key: str) -> dict[str, str]:
        access, secret = _split(key)
        return {"Authorization": "Bearer " + jwt(access, secret, self._clock())}

    def create(self, base_url: str, key: str, model: str, request: VideoRequest) -> HttpRequest:
        body: dict[str, Any] = {
            "model_name": model,
            "prompt": request.prompt,
            "duration": str(request.seconds),
            "mode": "pro" if (request.resolution or "").lower() == "1080p" else "std",
        }
        if request.aspect_ratio is not None:
            body["aspect_ratio"] = request.aspect_ratio
        first, last = request.first("first_frame"), request.first("last_frame")
        kind = "image2video" if first is not None else "text2video"
        if first is not None:
            body["image"] = first.url
        if last is not None:
            body["image_tail"] = last.url
        url = f"{base_url.rstrip('/')}/v1/videos/{kind}"
        return json_request(url, self._auth(key), body)

    def created(self, body: bytes, request: VideoRequest) -> str:
        answer = document(body)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else None
        task_id = data.get("task_id") if data else None
        if answer.get("code") not in (0, None) or not isinstance(task_id, str) or not task_id:
            raise ValueError(f"Kling refused the task: {str(answer.get('message'))[:200]}")
        return f"{kind_of(request)}/{task_id}"

    def poll(self, base_url: str, key: str, upstream_id: str) -> HttpRequest:
        kind, _, task_id = upstream_id.rpartition("/")
        url = f"{base_url.rstrip('/')}/v1/videos/{kind or 'text2video'}/{task_id}"
        return HttpRequest("GET", url, self._auth(key))

    def status(self, body: bytes) -> UpstreamTask:
        answer = document(body)
        data = answer.get("data")
        if not isinstance(data, dict):
            raise ValueError("Kling's answer has no data")
        status = _STATUS.get(str(data.get("task_status")))
        if status is None:
            raise ValueError(f"unknown task status {str(data.get('task_status'))[:40]!r}")
        url = seconds = None
        result = data.get("task_result")
        videos = result.get("videos") if isinstance(result, dict) else None
        if isinstance(videos, list) and videos and isinstance(videos[0], dict):
            url = videos[0].get("url")
            seconds = number(videos[0].get("duration"))
        failed = status is TaskStatus.FAILED
        return UpstreamTask(
            status=status,
            progress=_PROGRESS.get(status, 0),
            video_url=url if isinstance(url, str) else None,
            seconds=seconds,
            error_code="upstream_failed" if failed else None,
            error_message=str(data.get("task_status_msg") or "failed") if failed else None,
        )

    def cancel(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        return None  # Kling's API has no cancellation

    def content(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        return None

    def check_key(self, key: str) -> None:
        _split(key)


def kind_of(request: VideoRequest) -> str:
    """The Kling task kind a request creates (kept with the upstream id)."""
    return _KINDS[1] if request.first("first_frame") is not None else _KINDS[0]
