"""Fake video task upstreams, one server speaking four documented protocols under their own
prefixes, over real HTTP on loopback:

- OpenAI videos (``/openai/v1``): ``POST /videos`` as a multipart form, ``GET /videos/{id}``
  (``queued|in_progress|completed|failed``), ``GET /videos/{id}/content`` (the bytes);
- Ark content generation tasks (``/ark/api/v3``): ``POST /contents/generations/tasks``
  (``content[]``, ``duration``...), ``GET .../{id}`` (``content.video_url`` when done);
- Kling (``/kling``): ``POST /v1/videos/{text2video|image2video}``, ``GET .../{task_id}``,
  each request with a JWT signed by the secret key (verified);
- DashScope video synthesis (``/dashscope/api/v1``): ``POST /services/aigc/video-generation/
  video-synthesis`` with ``X-DashScope-Async: enable``, ``GET /tasks/{task_id}``.

A task answers "running" for ``plan.polls`` polls, then ends as ``plan.outcome``
(reporting ``plan.seconds`` as its duration, or the asked one). Finished videos are served at
``/files/{id}.mp4``. Every create and poll is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fakes.loopback import ThreadedApp

API_KEY = "sk-video-upstream"
KLING_ACCESS = "ak-fake-kling"
KLING_SECRET = "sk-fake-kling-secret"


@dataclass
class Plan:
    polls: int = 1  # polls answered "running" before the task ends
    outcome: str = "succeeded"  # or "failed"
    seconds: float | None = None  # the duration reported (None: the one asked)


@dataclass
class FakeTask:
    id: str
    protocol: str
    body: dict[str, Any]
    asked_seconds: float
    plan: Plan
    polls: int = 0


def video_bytes(task_id: str) -> bytes:
    """The "video" of a task: an MP4 signature and enough bytes to stream in pieces."""
    return b"\x00\x00\x00\x18ftypmp42" + hashlib.sha256(task_id.encode()).digest() * 8192


@dataclass
class _Recorded:
    creates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    polls: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)


class FakeVideos(ThreadedApp):
    label = "FakeVideos"

    def __init__(self) -> None:
        super().__init__()
        self.plan = Plan()
        self.tasks: dict[str, FakeTask] = {}
        self.recorded = _Recorded()
        self.create_status = 200  # another status: creates are refused with it
        self.create_delay = 0.0  # seconds every create waits before it answers
        self.file_origin: str | None = None  # where video URLs point (None: this server)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, protocol: str) -> str:
        return (
            self.origin
            + {
                "openai": "/openai/v1",
                "ark": "/ark/api/v3",
                "kling": "/kling",
                "dashscope": "/dashscope/api/v1",
            }[protocol]
        )

    def reset(self) -> None:
        with self._lock:
            self.plan = Plan()
            self.tasks.clear()
            self.recorded = _Recorded()
            self.create_status = 200
            self.create_delay = 0.0
            self.file_origin = None

    def polls_of(self, task_id: str) -> int:
        return self.recorded.polls.count(task_id)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/openai/v1/videos", self._openai_create)
        app.router.add_get("/openai/v1/videos/{id}", self._openai_get)
        app.router.add_get("/openai/v1/videos/{id}/content", self._openai_content)
        app.router.add_post("/ark/api/v3/contents/generations/tasks", self._ark_create)
        app.router.add_get("/ark/api/v3/contents/generations/tasks/{id}", self._ark_get)
        app.router.add_delete("/ark/api/v3/contents/generations/tasks/{id}", self._cancel)
        app.router.add_delete("/openai/v1/videos/{id}", self._cancel)
        app.router.add_post("/dashscope/api/v1/tasks/{id}/cancel", self._cancel)
        app.router.add_post("/kling/v1/videos/{kind}", self._kling_create)
        app.router.add_get("/kling/v1/videos/{kind}/{id}", self._kling_get)
        app.router.add_post(
            "/dashscope/api/v1/services/aigc/video-generation/video-synthesis",
            self._dashscope_create,
        )
        app.router.add_get("/dashscope/api/v1/tasks/{id}", self._dashscope_get)
        app.router.add_get("/files/{id}.mp4", self._file)
        return app

    # -- shared ------------------------------------------------------------------------

    def _new(self, protocol: str, body: dict[str, Any], seconds: float) -> FakeTask:
        with self._lock:
            task = FakeTask(f"{protocol}-{next(self._ids)}", protocol, body, seconds, self.plan)
            self.tasks[task.id] = task
            self.recorded.creates.append((protocol, body))
        return task

    def _poll(self, task_id: str) -> FakeTask | None:
        with self._lock:
            task = self.tasks.get(task_id)
            self.recorded.polls.append(task_id)
            if task is not None:
                task.polls += 1
            return task

    @staticmethod
    def _state(task: FakeTask) -> str:
        """running, or the plan's outcome once its polls are done."""
        return "running" if task.polls <= task.plan.polls else task.plan.outcome

    def _seconds(self, task: FakeTask) -> float:
        return task.plan.seconds if task.plan.seconds is not None else task.asked_seconds

    def _url(self, task: FakeTask) -> str:
        return f"{self.file_origin or self.origin}/files/{task.id}.mp4"

    @staticmethod
    def _bearer_ok(request: web.Request) -> bool:
        return request.headers.get("Authorization") == "Bearer " + API_KEY

    @staticmethod
    def _unauthorized() -> web.Response:
        return web.json_response({"error": {"message": "bad key", "code": "auth"}}, status=401)

    async def _refused(self) -> web.Response | None:
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        if self.create_status == 200:
            return None
        return web.json_response(
            {"error": {"message": "refused by the fake", "code": "refused"}},
            status=self.create_status,
        )

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        with self._lock:
            task = self.tasks.get(request.match_info["id"])
            if task is None:
                return web.json_response({"error": {"message": "not found"}}, status=404)
            self.recorded.cancels.append(task.id)
            task.plan = Plan(polls=0, outcome="cancelled")
        return web.json_response({})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["id"]
        if task_id not in self.tasks:
            return web.Response(status=404)
        return web.Response(body=video_bytes(task_id), content_type="video/mp4")

    # -- OpenAI --------------------------------------------------------------------------

    async def _openai_create(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        if not request.content_type.startswith("multipart/form-data"):
            return web.json_response({"error": {"message": "expected a form"}}, status=400)
        form = {name: str(value) for name, value in (await request.post()).items()}
        refused = await self._refused()
        if refused is not None:
            return refused
        task = self._new("openai", form, float(form.get("seconds", "4")))
        return web.json_response(self._openai_video(task, "queued"))

    def _openai_video(self, task: FakeTask, state: str) -> dict[str, Any]:
        status = {"running": "in_progress", "succeeded": "completed"}.get(state, state)
        return {
            "id": task.id,
            "object": "video",
            "model": task.body.get("model"),
            "status": status,
            "progress": 100 if status == "completed" else 40 if status == "in_progress" else 0,
            "created_at": int(time.time()),
            "seconds": str(int(self._seconds(task))),
            "size": task.body.get("size", "720x1280"),
            "error": {"code": "moderation", "message": "the fake failed it"}
            if status == "failed"
            else None,
        }

    async def _openai_get(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        task = self._poll(request.match_info["id"])
        if task is None:
            return web.json_response({"error": {"message": "no such video"}}, status=404)
        return web.json_response(self._openai_video(task, self._state(task)))

    async def _openai_content(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        task = self.tasks.get(request.match_info["id"])
        if task is None or self._state(task) != "succeeded":
            return web.json_response({"error": {"message": "not ready"}}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        await response.prepare(request)
        data = video_bytes(task.id)
        for start in range(0, len(data), 65536):
            await response.write(data[start : start + 65536])
        await response.write_eof()
        return response

    # -- Ark -----------------------------------------------------------------------------

    async def _ark_create(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        body = await request.json()
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return web.json_response({"error": {"message": "content is required"}}, status=400)
        refused = await self._refused()
        if refused is not None:
            return refused
        task = self._new("ark", body, float(body.get("duration", 5)))
        return web.json_response({"id": task.id})

    async def _ark_get(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        task = self._poll(request.match_info["id"])
        if task is None:
            return web.json_response({"error": {"message": "not found"}}, status=404)
        state = self._state(task)
        answer: dict[str, Any] = {
            "id": task.id,
            "model": task.body.get("model"),
            "status": state,
            "created_at": int(time.time()),
            "updated_at": int(time.time()),
        }
        if state == "succeeded":
            answer["content"] = {"video_url": self._url(task)}
            answer["duration"] = int(self._seconds(task))
            answer["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        if state == "failed":
            answer["error"] = {"code": "OutputVideoSensitiveContentDetected", "message": "no"}
        return web.json_response(answer)

    # -- Kling ---------------------------------------------------------------------------

    @staticmethod
    def _jwt_ok(request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        try:
            header, payload, signature = auth[7:].split(".")
            expected = hmac.new(
                KLING_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256
            ).digest()
            given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return False
        now = time.time()
        return (
            hmac.compare_digest(expected, given)
            and claims.get("iss") == KLING_ACCESS
            and claims.get("exp", 0) > now
            and claims.get("nbf", now + 1) <= now
        )

    @staticmethod
    def _kling(data: dict[str, Any], code: int = 0, status: int = 200) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": "SUCCEED" if code == 0 else "error",
                "request_id": "r",
                "data": data,
            },
            status=status,
        )

    async def _kling_create(self, request: web.Request) -> web.StreamResponse:
        if not self._jwt_ok(request):
            return self._kling({}, code=1000, status=401)
        kind = request.match_info["kind"]
        body = await request.json()
        if kind not in ("text2video", "image2video") or (kind == "image2video") != (
            "image" in body
        ):
            return self._kling({}, code=1201, status=400)
        refused = await self._refused()
        if refused is not None:
            return refused
        task = self._new("kling", {**body, "kind": kind}, float(body.get("duration", "5")))
        return self._kling({"task_id": task.id, "task_status": "submitted"})

    async def _kling_get(self, request: web.Request) -> web.StreamResponse:
        if not self._jwt_ok(request):
            return self._kling({}, code=1000, status=401)
        task = self._poll(request.match_info["id"])
        if task is None or task.body["kind"] != request.match_info["kind"]:
            return self._kling({}, code=1203, status=404)
        state = {"running": "processing", "succeeded": "succeed"}.get(
            self._state(task), self._state(task)
        )
        data: dict[str, Any] = {"task_id": task.id, "task_status": state}
        if state == "succeed":
            data["task_result"] = {
                "videos": [
                    {"id": "v1", "url": self._url(task), "duration": f"{self._seconds(task):.3f}"}
                ]
            }
        if state == "failed":
            data["task_status_msg"] = "the fake failed it"
        return self._kling(data)

    # -- DashScope -------------------------------------------------------------------------

    async def _dashscope_create(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        if request.headers.get("X-DashScope-Async") != "enable":
            return web.json_response(
                {
                    "code": "AccessDenied",
                    "message": "current user api does not support synchronous calls",
                },
                status=403,
            )
        body = await request.json()
        if not isinstance(body.get("input"), dict) or "prompt" not in body["input"]:
            return web.json_response({"code": "InvalidParameter", "message": "input"}, status=400)
        refused = await self._refused()
        if refused is not None:
            return refused
        task = self._new("dashscope", body, float(body.get("parameters", {}).get("duration", 5)))
        return web.json_response(
            {"request_id": "r", "output": {"task_id": task.id, "task_status": "PENDING"}}
        )

    async def _dashscope_get(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        task = self._poll(request.match_info["id"])
        if task is None:
            return web.json_response(
                {
                    "request_id": "r",
                    "output": {"task_id": request.match_info["id"], "task_status": "UNKNOWN"},
                }
            )
        state = {"running": "RUNNING", "succeeded": "SUCCEEDED", "failed": "FAILED"}[
            self._state(task)
        ]
        output: dict[str, Any] = {"task_id": task.id, "task_status": state}
        answer: dict[str, Any] = {"request_id": "r", "output": output}
        if state == "SUCCEEDED":
            output["video_url"] = self._url(task)
            answer["usage"] = {"video_duration": self._seconds(task), "video_count": 1}
        if state == "FAILED":
            output["code"] = "DataInspectionFailed"
            output["message"] = "the fake failed it"
        return web.json_response(answer)
