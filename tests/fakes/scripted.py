"""A raw scripted HTTP server on loopback: it answers every request (any method, any path)
with the next scripted ``Raw`` answer, byte for byte, and records what it received.

For the cases the format fakes do not speak: an upstream that answers 200 with invalid JSON,
a stream that carries an error event echoing the key it was called with, a redirect, or a
listener that must never see a request. ``{key}`` in a scripted body is replaced by the key
the request carried (``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key`` or
``?key=``), as a careless upstream would echo it.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from .loopback import RecordedRequest, ThreadedApp


@dataclass(frozen=True)
class Raw:
    """One answer: status, headers, and the body written piece by piece (one write each)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    pieces: tuple[bytes, ...] = ()
    linger: float = 0.0  # seconds the response stays open after its last piece

    @classmethod
    def json(cls, body: bytes, status: int = 200) -> Raw:
        return cls(status, {"Content-Type": "application/json"}, (body,))

    @classmethod
    def sse(cls, *events: bytes, linger: float = 0.0) -> Raw:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        return cls(200, headers, events, linger)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Raw:
        return cls(status, {"Location": location}, ())


def received_key(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return (
        request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or request.query.get("key", "")
    )


class ScriptedServer(ThreadedApp):
    """``with ScriptedServer() as server: server.script(Raw.json(b"{"))``; with nothing
    scripted it answers ``default`` (404 unless set)."""

    label = "Scripted"

    def __init__(self, default: Raw | None = None) -> None:
        super().__init__()
        self.default = default or Raw(404, {"Content-Type": "text/plain"}, (b"not scripted",))
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Raw] = deque()
        self._lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *answers: Raw) -> None:
        with self._lock:
            self._queue.extend(answers)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(
                RecordedRequest(request.method, request.path_qs, headers, None, raw)
            )
            answer = self._queue.popleft() if self._queue else self.default
        key = received_key(request).encode()
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        await response.prepare(request)
        for piece in answer.pieces:
            await response.write(piece.replace(b"{key}", key))
            await asyncio.sleep(0)
        if answer.linger:
            await asyncio.sleep(answer.linger)
        await response.write_eof()
        return response
