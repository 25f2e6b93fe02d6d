"""A fake DashScope (Alibaba Model Studio) image synthesis upstream, over real HTTP on
loopback, speaking the documented asynchronous task API.

- ``POST /api/v1/services/aigc/text2image/image-synthesis`` with ``Authorization: Bearer``
  and ``X-DashScope-Async: enable`` (400 ``InvalidParameter`` without it, as DashScope
  answers a synchronous call to an async-only model), body ``{"model", "input":
  {"prompt"}, "parameters": {"size": "W*H", "n"}}``: answers ``{"output": {"task_id",
  "task_status": "PENDING"}, "request_id"}``.
- ``GET /api/v1/tasks/{task_id}``: ``PENDING``, then ``RUNNING``, until the task was read
  ``polls`` times; then ``SUCCEEDED`` with ``output.results[{url, orig_prompt,
  actual_prompt}]`` and ``usage.image_count``, or, for a prompt holding ``fail``,
  ``FAILED`` with ``output.code`` and ``output.message``.
- Image ``i`` is ``png(seed(prompt, i))``, served at ``/files/{task_id}/{i}.png``.

Errors are DashScope's ``{"code", "message", "request_id"}``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .images import png, seed
from .loopback import LoopbackFake, RecordedRequest

__all__ = ["FakeDashScope", "RecordedRequest"]


@dataclass
class Task:
    model: str
    prompt: str
    n: int
    size: str | None
    reads: int = 0
    images: list[bytes] = field(default_factory=list)


class FakeDashScope(LoopbackFake):
    label = "FakeDashScope"

    def __init__(
        self,
        api_keys: Sequence[str] = ("sk-dashscope-test",),
        name: str = "dashscope",
        models: Sequence[str] = ("wan2.2-t2i-flash",),
        polls: int = 2,
    ) -> None:
        super().__init__(api_keys, name, models)
        self.polls = polls
        self.tasks: dict[str, Task] = {}

    @property
    def base_url(self) -> str:
        return self.origin

    def reset(self) -> None:
        super().reset()
        self.tasks.clear()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/services/aigc/text2image/image-synthesis", self._submit)
        app.router.add_get("/api/v1/tasks/{task_id}", self._task)
        app.router.add_get("/files/{task_id}/{index}.png", self._file)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        code = type_ or {400: "InvalidParameter", 401: "InvalidApiKey"}.get(status, "InternalError")
        return web.json_response(
            {"code": code, "message": message, "request_id": secrets.token_hex(8)}, status=status
        )

    def _key(self, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        key = self._key(request)
        early = await self.before(request, behaviour, key)
        if early is not None:
            return early
        if key not in self.api_keys:
            return self.error(401, "Invalid API-key provided.")
        if request.headers.get("X-DashScope-Async") != "enable":
            return self.error(400, "current user api does not support synchronous calls")
        if not isinstance(body, dict) or body.get("model") not in self.models:
            return self.error(400, "Model not exist.", "InvalidParameter")
        given, parameters = body.get("input") or {}, body.get("parameters") or {}
        if not given.get("prompt"):
            return self.error(400, "input.prompt is required")
        task_id = secrets.token_hex(12)
        self.tasks[task_id] = Task(
            body["model"], given["prompt"], int(parameters.get("n", 1)), parameters.get("size")
        )
        answer = {
            "output": {"task_id": task_id, "task_status": "PENDING"},
            "request_id": secrets.token_hex(8),
        }
        return await self.send_json(request, answer, behaviour)

    async def _task(self, request: web.Request) -> web.StreamResponse:
        _, behaviour = await self.record(request)
        key = self._key(request)
        early = await self.before(request, behaviour, key)
        if early is not None:
            return early
        if key not in self.api_keys:
            return self.error(401, "Invalid API-key provided.")
        task_id = request.match_info["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            output: dict[str, Any] = {"task_id": task_id, "task_status": "UNKNOWN"}
            return await self.send_json(request, {"output": output}, behaviour)
        task.reads += 1
        if task.reads < self.polls:
            status = "PENDING" if task.reads == 1 else "RUNNING"
            output = {"task_id": task_id, "task_status": status}
            return await self.send_json(request, {"output": output}, behaviour)
        if "fail" in task.prompt:
            output = {
                "task_id": task_id,
                "task_status": "FAILED",
                "code": "DataInspectionFailed",
                "message": "Input data may contain inappropriate content.",
            }
            return await self.send_json(request, {"output": output}, behaviour)
        task.images = [png(seed(task.prompt, index)) for index in range(task.n)]
        results = [
            {
                "url": f"{self.origin}/files/{task_id}/{index}.png",
                "orig_prompt": task.prompt,
                "actual_prompt": task.prompt + ", detailed",
            }
            for index in range(task.n)
        ]
        answer = {
            "request_id": secrets.token_hex(8),
            "output": {"task_id": task_id, "task_status": "SUCCEEDED", "results": results},
            "usage": {"image_count": task.n},
        }
        return await self.send_json(request, answer, behaviour)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        task = self.tasks.get(request.match_info["task_id"])
        index = int(request.match_info["index"])
        if task is None or index >= len(task.images):
            return web.Response(status=404)
        return web.Response(body=task.images[index], content_type="image/png")
