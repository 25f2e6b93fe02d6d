"""What every fake upstream shares: an aiohttp app served over real HTTP on loopback in a
daemon thread with its own event loop, scripted behaviours (FIFO), recorded requests and
client-disconnect counting. ``FakeOpenAI``, ``FakeAnthropic`` and ``FakeGemini`` add their
routes and answers."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from aiohttp.typedefs import Handler

# Set once a response is finished or dropped on purpose: later cancellation is no disconnect.
DONE = web.RequestKey("fake_loopback_done", bool)

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


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class ThreadedApp:
    """An aiohttp app served on 127.0.0.1 (a free port) from a daemon thread with its own
    event loop; ``with`` starts and stops it. Subclasses build the app."""

    label = "Fake"
    handler_cancellation = True  # a client that goes away cancels its handler

    def __init__(self) -> None:
        self.port = 0
        # Set before start() to serve HTTPS with this context instead of HTTP.
        self.tls: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def build_app(self) -> web.Application:
        raise NotImplementedError

    @property
    def thread_name(self) -> str:
        return self.label

    def start(self) -> Self:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(
            target=self._serve, args=(ready, errors), name=self.thread_name, daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.label} did not start within 10s")
        if errors:
            raise RuntimeError(f"{self.label} failed to start") from errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._stopping = True
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(
            self.build_app(),
            access_log=None,
            handler_cancellation=self.handler_cancellation,
            shutdown_timeout=0.5,
        )
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(
                web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.tls).start()
            )
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


class LoopbackFake(ThreadedApp):
    """An aiohttp app in a daemon thread with its own loop, with scripted behaviours,
    recorded requests and client-disconnect counting. Subclasses add routes."""

    label = "Fake"

    def __init__(self, api_keys: Sequence[str], name: str, models: Sequence[str]) -> None:
        super().__init__()
        self.api_keys = tuple(api_keys)
        self.name = name
        self.models = tuple(models)
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.default = Behaviour.ok()
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()

    @property
    def thread_name(self) -> str:
        return f"{self.label}-{self.name}"

    # -- control (called from the test thread)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` when served with ``tls``); recorded paths
        carry their query string."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

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

    # -- server (runs on the server loop)

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        raise NotImplementedError

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._track_disconnects], client_max_size=64 << 20)
        self.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    @web.middleware
    async def _track_disconnects(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except asyncio.CancelledError:  # handler_cancellation: the client went away
            self._note_disconnect(request)
            raise
        request[DONE] = True
        return response

    def _note_disconnect(self, request: web.Request) -> None:
        if not request.get(DONE) and not self._stopping:
            request[DONE] = True
            with self._lock:
                self.disconnects += 1

    async def record(self, request: web.Request) -> tuple[Any, Behaviour]:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.path_qs, headers, body, raw)
            )
            behaviour = self._queue.popleft() if self._queue else self.default
        return body, behaviour

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-fake-upstream": self.name, **extra}

    def url(self, request: web.Request) -> str:
        return f"{self.origin}{request.path}"

    async def before(
        self, request: web.Request, b: Behaviour, key: str
    ) -> web.StreamResponse | None:
        """The behaviour's part before any answer: close, sleep, or a scripted error whose
        message carries the received key and the URL (to test that the relay scrubs them)."""
        if b.kind == "close_immediately":
            return self.drop(request, web.Response(status=200))
        if b.kind == "slow":
            await asyncio.sleep(b.delay_s)
        if b.kind == "error":
            message = f"{b.message} (api key: {key or '<none>'}, at {self.url(request)})"
            response = self.error(b.status, message, b.type_)
            if b.retry_after is not None:
                response.headers["retry-after"] = f"{b.retry_after:g}"
            return response
        return None

    def drop(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Close the connection; aiohttp then fails quietly writing whatever is left."""
        request[DONE] = True
        if request.transport is not None:
            request.transport.close()
        return response

    async def send_json(
        self, request: web.Request, payload: Any, b: Behaviour
    ) -> web.StreamResponse:
        data = dumps(payload)
        if b.kind != "drop_after":
            return web.Response(body=data, content_type="application/json", headers=self.headers())
        resp = web.StreamResponse(headers=self.headers(**{"Content-Type": "application/json"}))
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        return self.drop(request, resp)

    async def send_stream(
        self, request: web.Request, pieces: list[bytes], b: Behaviour, content_type: str
    ) -> web.StreamResponse:
        """One write per piece (real streaming); ``drop_after(n)`` closes after n pieces."""
        headers = self.headers(**{"Content-Type": content_type, "Cache-Control": "no-cache"})
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        for sent, piece in enumerate(pieces):
            if b.kind == "drop_after" and sent >= b.n_chunks:
                return self.drop(request, resp)
            if b.kind == "slow_stream" and sent:
                await asyncio.sleep(b.delay_s)
            try:
                await resp.write(piece)
            except ConnectionError:  # the client went away (write noticed before the cancel)
                self._note_disconnect(request)
                return resp
        await resp.write_eof()
        return resp

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        return self.error(404, f"Not found: {request.method} {request.path}")
