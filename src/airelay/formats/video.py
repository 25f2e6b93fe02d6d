"""Video generation tasks as clients ask for them and see them: pure, no I/O.

Two client faces share one task:

- ``POST /v1/videos/generations`` (the relay seeds' body: ``model``, ``prompt``,
  ``duration``, ``resolution``, ``aspect_ratio``, ``seed``, ``content[]`` with ``image_url``
  items and roles ``first_frame``, ``last_frame``, ``reference_image``...), answered as a
  ``video.generation.task`` with ``queued|running|succeeded|failed``.
- OpenAI's ``POST /v1/videos`` (form fields ``model``, ``prompt``, ``seconds``, ``size``),
  answered as a ``video`` object with ``queued|in_progress|completed|failed``.

Both decode into one ``VideoRequest`` that each upstream adapter encodes in its own shape.
Bad input is a ``ValueError`` whose message the surface answers as a 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MIN_SECONDS = 1
MAX_SECONDS = 60
DEFAULT_SECONDS = 5
MAX_CONTENT_ITEMS = 10
MAX_PROMPT_CHARS = 10_000

#: The roles a ``content[]`` item may play.
ROLES = ("first_frame", "last_frame", "reference_image", "reference_video", "reference_audio")
_SINGLE_ROLES = ("first_frame", "last_frame")
_RESOLUTION = re.compile(r"^\d{3,4}[pP]$")
_SIZE = re.compile(r"^(\d{2,5})[x*](\d{2,5})$")
_RATIO = re.compile(r"^\d{1,2}:\d{1,2}$")


class TaskStatus(StrEnum):
    """A task's life, as the gateway keeps it. ``SUBMITTING``: reserved, the upstream not yet
    answered (a task left so by a crash is refunded by the poller)."""

    SUBMITTING = "submitting"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Media:
    """One reference asset: an image (or video, audio) by URL and the role it plays."""

    url: str
    role: str
    kind: str = "image"  # image | video | audio


@dataclass(frozen=True, slots=True)
class VideoRequest:
    model: str
    prompt: str
    seconds: int
    resolution: str | None = None  # "720p"
    size: str | None = None  # "1280x720"
    aspect_ratio: str | None = None  # "16:9"
    seed: int | None = None
    media: tuple[Media, ...] = field(default_factory=tuple)

    @property
    def price_key(self) -> str | None:
        """What a per-resolution price is looked up by: the resolution, else the size."""
        return self.resolution or self.size

    def first(self, role: str) -> Media | None:
        for item in self.media:
            if item.role == role:
                return item
        return None

    def to_json(self) -> dict[str, Any]:
        """What the task row keeps of the request (shown back to the client)."""
        return {
            "prompt": self.prompt,
            "seconds": self.seconds,
            "resolution": self.resolution,
            "size": self.size,
            "aspect_ratio": self.aspect_ratio,
            "seed": self.seed,
        }


def _model(payload: Mapping[str, Any]) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError("'model' is required and must be a non-empty string.")
    return model


def _prompt(value: object, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError("'prompt' is required and must be a non-empty string.")
    if len(value) > MAX_PROMPT_CHARS:
        raise ValueError(f"'prompt' is longer than {MAX_PROMPT_CHARS} characters.")
    return value


def _seconds(value: object, name: str) -> int:
    if value is None:
        return DEFAULT_SECONDS
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be a whole number of seconds.")
    if not MIN_SECONDS <= value <= MAX_SECONDS:
        raise ValueError(f"'{name}' must be between {MIN_SECONDS} and {MAX_SECONDS} seconds.")
    return value


def _optional(payload: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise ValueError(f"'{name}' has an unsupported value: {str(value)[:40]!r}.")
    return value


def _seed(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value < 2**32:
        raise ValueError("'seed' must be an integer between -1 and 4294967295.")
    return value


def _media(items: object) -> tuple[Media, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ValueError("'content' must be an array.")
    if len(items) > MAX_CONTENT_ITEMS:
        raise ValueError(f"'content' holds more than {MAX_CONTENT_ITEMS} items.")
    out: list[Media] = []
    for index, item in enumerate(items):
        where = f"content[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"'{where}' must be an object.")
        kind = item.get("type")
        if kind == "text":
            continue  # the prompt travels in 'prompt'
        key = {"image_url": "image", "video_url": "video", "audio_url": "audio"}.get(str(kind))
        if key is None:
            raise ValueError(f"'{where}.type' must be image_url, video_url or audio_url.")
        holder = item.get(str(kind))
        url = holder.get("url") if isinstance(holder, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:")):
            raise ValueError(f"'{where}.{kind}.url' must be an http(s) or data: URL.")
        role = item.get("role", "reference_" + key if key != "image" else "first_frame")
        if role not in ROLES:
            raise ValueError(f"'{where}.role' must be one of {', '.join(ROLES)}.")
        out.append(Media(url=url, role=role, kind=key))
    for role in _SINGLE_ROLES:
        if sum(1 for m in out if m.role == role) > 1:
            raise ValueError(f"'content' may hold at most one {role}.")
    return tuple(out)


def generations_request(payload: object) -> VideoRequest:
    """The seeds' ``POST /v1/videos/generations`` body."""
    if not isinstance(payload, dict):
        raise ValueError("The request body must be a JSON object.")
    media = _media(payload.get("content"))
    return VideoRequest(
        model=_model(payload),
        prompt=_prompt(payload.get("prompt"), required=not media),
        seconds=_seconds(payload.get("duration"), "duration"),
        resolution=_optional(payload, "resolution", _RESOLUTION),
        size=_optional(payload, "size", _SIZE),
        aspect_ratio=_optional(payload, "aspect_ratio", _RATIO),
        seed=_seed(payload.get("seed")),
        media=media,
    )


def openai_request(fields: Mapping[str, Any]) -> VideoRequest:
    """OpenAI's ``POST /v1/videos`` (form fields or a JSON body): ``seconds`` and ``size``;
    ``input_reference`` as ``{"image_url": ...}`` becomes the first frame."""
    media: tuple[Media, ...] = ()
    reference = fields.get("input_reference")
    if isinstance(reference, dict) and isinstance(reference.get("image_url"), str):
        media = _media([{"type": "image_url", "image_url": {"url": reference["image_url"]}}])
    elif reference is not None:
        raise ValueError("'input_reference' is taken as {\"image_url\": ...} only.")
    return VideoRequest(
        model=_model(fields),
        prompt=_prompt(fields.get("prompt"), required=True),
        seconds=_seconds(fields.get("seconds", 4), "seconds"),
        size=_optional(fields, "size", _SIZE),
        media=media,
    )


@dataclass(frozen=True, slots=True)
class TaskView:
    """What a client may see of a task (never the upstream's id nor the channel)."""

    id: str
    model: str
    status: TaskStatus
    progress: int
    created_at: int
    completed_at: int | None
    seconds: int
    size: str | None
    resolution: str | None
    prompt: str
    video_url: str | None
    error_code: str | None
    error_message: str | None


def _error(view: TaskView) -> dict[str, str] | None:
    if view.error_code is None and view.error_message is None:
        return None
    return {"code": view.error_code or "failed", "message": view.error_message or "failed"}


def generations_task(view: TaskView) -> dict[str, Any]:
    """The seeds' ``video.generation.task`` object."""
    status = view.status
    shown = {
        TaskStatus.SUBMITTING: "queued",
        TaskStatus.CANCELLED: "failed",
    }.get(status, str(status))
    document: dict[str, Any] = {
        "id": view.id,
        "object": "video.generation.task",
        "model": view.model,
        "status": shown,
        "progress": view.progress,
        "created_at": view.created_at,
        "duration": view.seconds,
    }
    if view.resolution is not None:
        document["resolution"] = view.resolution
    if status is TaskStatus.SUCCEEDED:
        document["data"] = [{"video_url": view.video_url}]
        document["completed_at"] = view.completed_at
    error = _error(view)
    if error is not None:
        document["error"] = error
    return document


_OPENAI_STATUS = {
    TaskStatus.SUBMITTING: "queued",
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "in_progress",
    TaskStatus.SUCCEEDED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "failed",
}


def openai_video(view: TaskView) -> dict[str, Any]:
    """OpenAI's ``video`` object."""
    return {
        "id": view.id,
        "object": "video",
        "model": view.model,
        "status": _OPENAI_STATUS[view.status],
        "progress": view.progress,
        "created_at": view.created_at,
        "completed_at": view.completed_at,
        "expires_at": None,
        "prompt": view.prompt,
        "seconds": str(view.seconds),
        "size": view.size or view.resolution or "",
        "remixed_from_video_id": None,
        "error": _error(view),
    }
