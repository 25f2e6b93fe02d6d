"""What every video task upstream implements: how to create a task, ask how it is doing,
and fetch the finished video, each as one plain HTTP request the caller sends.

An adapter is pure: it builds requests and reads answers (``ValueError`` for an answer it
cannot read) and knows neither the HTTP client nor money. Its statuses are mapped to the
gateway's ``TaskStatus``; what it reports of the finished video (URL, real duration) is what
the task is settled on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.formats.video import TaskStatus, VideoRequest
from airelay.providers.base import Head, Plain, unserved


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class UpstreamTask:
    """An upstream's word on a task."""

    status: TaskStatus
    progress: int = 0
    video_url: str | None = None
    seconds: float | None = None  # the real duration, when the upstream says
    error_code: str | None = None
    error_message: str | None = None


class VideoTasks(Protocol):
    """One kind of video task upstream."""

    def create(self, base_url: str, key: str, model: str, request: VideoRequest) -> HttpRequest:
        """The request that creates the task; ``model`` is the upstream's name."""
        ...

    def created(self, body: bytes, request: VideoRequest) -> str:
        """The id the gateway keeps for the upstream's task, from a 2xx answer to
        ``create`` of ``request``."""
        ...

    def poll(self, base_url: str, key: str, upstream_id: str) -> HttpRequest: ...

    def status(self, body: bytes) -> UpstreamTask:
        """The task's state from a 2xx answer to ``poll``."""
        ...

    def cancel(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        """The request that cancels a task not yet finished; None when the upstream has no
        way to (the task then runs on upstream, though its user got the money back)."""
        ...

    def content(self, base_url: str, key: str, upstream_id: str) -> HttpRequest | None:
        """The request for the finished video's bytes when the upstream serves them itself
        (OpenAI); None when its answer carries a URL to fetch instead."""
        ...

    def check_key(self, key: str) -> None: ...


def json_request(url: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> HttpRequest:
    return HttpRequest(
        "POST", url, {**headers, "Content-Type": "application/json"}, orjson.dumps(body)
    )


def document(body: bytes) -> dict[str, Any]:
    """A JSON object answer, or ``ValueError``."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError("the upstream's answer is not JSON") from exc
    if not isinstance(parsed, dict):
        raise ValueError("the upstream's answer is not a JSON object")
    return parsed


def number(value: object) -> float | None:
    """A duration as upstreams write it: a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class TasksOnly(Plain):
    """The request-response side of a channel type that serves video tasks only (Kling,
    DashScope's video synthesis): it serves no endpoint the relay calls."""

    formats: Mapping[Endpoint, WireFormat] = {}
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.VIDEO})
    default_endpoints: frozenset[Endpoint] = frozenset({Endpoint.VIDEO})
    framing = Framing.SSE

    def __init__(self, check: Callable[[str], None] | None = None) -> None:
        self._check = check

    def check_key(self, key: str) -> None:
        if self._check is not None:
            self._check(key)

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        raise unserved(self, endpoint)
