"""A fake OpenAI Chat Completions upstream, served over real HTTP on loopback.

Runs an aiohttp server in a daemon thread with its own event loop.  Answers are
deterministic (rules in ``openai_payloads``) so gateway tests can assert exact content and
usage.  Behaviours (errors, slowness, dropped connections) are scripted per request, FIFO.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from .openai_payloads import (
    REASONING_TEXT,
    TOOL_ARGUMENTS,
    Answer,
    build_answer,
    completion,
    stream_chunks,
    text_of,
    usage,
)

__all__ = [
    "REASONING_TEXT",
    "TOOL_ARGUMENTS",
    "Answer",
    "Behaviour",
    "FakeOpenAI",
    "RecordedRequest",
    "build_answer",
    "text_of",
    "usage",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "deepseek-reasoner")
_ERROR_TYPES = {403: "permission_error", 429: "requests"}  # others: by status class
# Set once a response is finished or dropped on purpose: later cancellation is no disconnect.
_DONE = web.RequestKey("fake_openai_done", bool)

Kind = Literal["ok", "error", "slow", "drop_after", "close_immediately", "slow_stream"]


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one request.  Build with the classmethods."""

    kind: Kind = "ok"
    status: int = 200
    message: str = ""
    type_: str | None = None
    code: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    n_chunks: int = 0

    @classmethod
    def ok(cls) -> Behaviour:
        return cls()

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "The server had an error while processing your request.",
        type_: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> Behaviour:
        """OpenAI-shaped error.  The message gets the called URL and full bearer key appended.

        ``type_`` defaults from the status (429 -> "requests", 5xx -> "server_error", ...).
        """
        return cls("error", status, message, type_, code, retry_after)

    @classmethod
    def slow(cls, delay_s: float) -> Behaviour:
        """Sleep before sending headers, then answer ok."""
        return cls("slow", delay_s=delay_s)

    @classmethod
    def drop_after(cls, n_chunks: int) -> Behaviour:
        """Stream: send n SSE chunks then close without finishing the chunked body.

        Non-stream: send headers (declared Content-Length) and half the body, then close.
        """
        return cls("drop_after", n_chunks=n_chunks)

    @classmethod
    def close_immediately(cls) -> Behaviour:
        """Close the connection without sending any response."""
        return cls("close_immediately")

    @classmethod
    def slow_stream(cls, delay_between_chunks_s: float) -> Behaviour:
        """Answer ok, sleeping between SSE chunks (non-stream: plain ok)."""
        return cls("slow_stream", delay_s=delay_between_chunks_s)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case keys
    body: Any  # parsed JSON, or None when empty / not JSON
    raw: bytes

    @property
    def api_key(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


class FakeOpenAI:
    """Fake OpenAI upstream.  ``with FakeOpenAI() as fake: OpenAI(base_url=fake.base_url, ...)``."""

    def __init__(
        self,
        api_keys: Sequence[str] = ("sk-upstream-test",),
        name: str = "fake",
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        self.api_keys = tuple(api_keys)
        self.name = name
        self.models = tuple(models)
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.default = Behaviour.ok()
        self.port = 0
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- control (called from the test thread)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._queue.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.disconnects = 0
            self.default = Behaviour.ok()

    def wait_for_disconnects(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Poll until ``disconnects >= count`` (the server notices them asynchronously)."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def start(self) -> FakeOpenAI:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name=f"FakeOpenAI-{self.name}", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("FakeOpenAI did not start within 10s")
        if errors:
            raise RuntimeError("FakeOpenAI failed to start") from errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stopping = True
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application(middlewares=[self._track_disconnects])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
            self.port = int(runner.addresses[0][1])
            self._loop = loop
        except BaseException as exc:
            errors.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    # -- request handling (runs on the server loop)

    @web.middleware
    async def _track_disconnects(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except asyncio.CancelledError:  # handler_cancellation: the client went away
            self._note_disconnect(request)
            raise
        request[_DONE] = True
        return response

    def _note_disconnect(self, request: web.Request) -> None:
        if not request.get(_DONE) and not self._stopping:
            request[_DONE] = True
            with self._lock:
                self.disconnects += 1

    async def _record(self, request: web.Request) -> tuple[Any, Behaviour]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.path, headers, body, raw))
            behaviour = self._queue.popleft() if self._queue else self.default
        return body, behaviour

    def _headers(self, **extra: str) -> dict[str, str]:
        return {
            "x-request-id": "req_" + secrets.token_hex(8),
            "x-fake-upstream": self.name,
            **extra,
        }

    def _error(
        self,
        status: int,
        message: str,
        type_: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> web.Response:
        default_type = "server_error" if status >= 500 else "invalid_request_error"
        err = {
            "message": message,
            "type": type_ or _ERROR_TYPES.get(status, default_type),
            "param": param,
            "code": code,
        }
        headers = self._headers()
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        return web.json_response({"error": err}, status=status, headers=headers)

    def _url(self, request: web.Request) -> str:
        return f"http://127.0.0.1:{self.port}{request.path}"

    async def _pre_answer(self, request: web.Request, b: Behaviour) -> web.StreamResponse | None:
        """Apply the behaviour's pre-response part and the auth check."""
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if b.kind == "close_immediately":
            return self._drop(request, web.Response(status=200))
        if b.kind == "slow":
            await asyncio.sleep(b.delay_s)
        if b.kind == "error":
            message = f"{b.message} (api key: {key or '<none>'}, at {self._url(request)})"
            return self._error(b.status, message, b.type_, b.code, retry_after=b.retry_after)
        if not key:
            msg = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."  # noqa: E501
            return self._error(401, msg, code="invalid_api_key")
        if key not in self.api_keys:
            msg = f"Incorrect API key provided: {key} at {self._url(request)}"
            return self._error(401, msg, code="invalid_api_key")
        return None

    def _drop(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Close the connection; aiohttp then fails quietly writing whatever is left."""
        request[_DONE] = True
        if request.transport is not None:
            request.transport.close()
        return response

    async def _send_json(
        self, request: web.Request, payload: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        data = _dumps(payload)
        if b.kind != "drop_after":
            return web.Response(body=data, content_type="application/json", headers=self._headers())
        headers = self._headers(**{"Content-Type": "application/json"})
        resp = web.StreamResponse(headers=headers)
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        return self._drop(request, resp)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return self._error(404, f"Invalid URL ({request.method} {request.path})")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        _, behaviour = await self._record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": self.name}
            for m in self.models
        ]
        return await self._send_json(request, {"object": "list", "data": data}, behaviour)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self._record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"  # noqa: E501
            return self._error(400, msg)
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            msg = "Missing required parameter: 'messages'."
            return self._error(400, msg, param="messages", code="missing_required_parameter")
        answer = build_answer(body)
        n = body["n"] if isinstance(body.get("n"), int) and body["n"] > 0 else 1
        head = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "created": int(time.time()),
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if body.get("stream") is not True:
            return await self._send_json(request, completion(head, answer, n), behaviour)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = stream_chunks(head, answer, n, include_usage)
        return await self._stream(request, chunks, behaviour)

    async def _stream(
        self, request: web.Request, chunks: list[dict[str, Any]], b: Behaviour
    ) -> web.StreamResponse:
        headers = self._headers(
            **{"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        events = [b"data: " + _dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]
        for sent, event in enumerate(events):
            if b.kind == "drop_after" and sent >= b.n_chunks:
                return self._drop(request, resp)
            if b.kind == "slow_stream" and sent:
                await asyncio.sleep(b.delay_s)
            try:
                await resp.write(event)  # one write per event: real streaming
            except ConnectionError:  # the client went away (write noticed before the cancel)
                self._note_disconnect(request)
                return resp
        await resp.write_eof()
        return resp


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
