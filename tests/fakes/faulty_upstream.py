"""A scriptable faulty upstream with byte-level control: a raw asyncio server on loopback.

The aiohttp-based fakes (``loopback``) answer like a provider; this one misbehaves the way a
broken provider or network does, which a web framework will not do for us: hang before
the status line, stall or reset (TCP RST) in the middle of a stream, answer 200 with bytes
that are not JSON, stream forever, send a huge body, or answer 429/5xx. It speaks the
OpenAI chat wire format (the answers the gateway passes through), serves one request per
connection, and counts the connections it holds open, so a test can see that the gateway
let go of them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

Kind = Literal["ok", "hang", "stall", "reset", "invalid_json", "endless", "huge", "status"]

# A fake that misbehaves must still end: no connection is served longer than this.
MAX_SERVE_SECONDS = 60.0
USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass(frozen=True)
class Fault:
    """How the fake answers one request. Build with the classmethods."""

    kind: Kind = "ok"
    status: int = 200
    after: int = 0  # stream chunks sent before a stall or a reset
    size: int = 0  # bytes of a huge body
    interval: float = 0.0  # seconds between the chunks of an endless stream
    body: bytes = b""  # the bytes of an invalid answer
    retry_after: str | None = None
    delay: float = 0.0  # seconds before an ok answer

    @classmethod
    def ok(cls, delay: float = 0.0) -> Fault:
        return cls(delay=delay)

    @classmethod
    def hang(cls) -> Fault:
        """Read the request, never send a byte back."""
        return cls("hang")

    @classmethod
    def stall(cls, after: int) -> Fault:
        """Stream: ``after`` chunks, then nothing (the connection stays open)."""
        return cls("stall", after=after)

    @classmethod
    def reset(cls, after: int) -> Fault:
        """Stream: ``after`` chunks, then a TCP reset. Non-stream: half a body, then reset."""
        return cls("reset", after=after)

    @classmethod
    def invalid_json(cls, body: bytes = b'{"id": "chatcmpl-1", "choices": [{"mess') -> Fault:
        """200, ``Content-Type: application/json``, and bytes that do not parse."""
        return cls("invalid_json", body=body)

    @classmethod
    def endless(cls, interval: float = 0.0) -> Fault:
        """Stream: chunks forever (every ``interval`` s), never ``[DONE]``."""
        return cls("endless", interval=interval)

    @classmethod
    def huge(cls, size: int) -> Fault:
        """200 with a valid chat completion of about ``size`` bytes."""
        return cls("huge", size=size)

    @classmethod
    def error(cls, status: int, retry_after: str | None = None) -> Fault:
        return cls("status", status=status, retry_after=retry_after)


class FaultyUpstream:
    """``with FaultyUpstream() as fake``: ``base_url`` for an ``openai`` channel;
    ``script(...)`` queues faults (FIFO), ``default`` answers when the queue is empty."""

    def __init__(self, api_key: str = "sk-faulty-upstream") -> None:
        self.api_key = api_key
        self.port = 0
        self.default = Fault.ok()
        self.requests = 0
        self.open_connections = 0
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._queue.extend(faults)

    def reset_script(self) -> None:
        with self._lock:
            self._queue.clear()
            self.default = Fault.ok()
            self.requests = 0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until the gateway holds no connection to this fake open (it lets go of them)."""
        deadline = time.monotonic() + timeout
        while self.open_connections:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the faulty upstream did not start")
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    # -- serving (on the fake's loop) ------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.open_connections += 1
        try:
            async with asyncio.timeout(MAX_SERVE_SECONDS):
                await self._answer(reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()
            with self._lock:
                self.open_connections -= 1

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        request: dict[str, Any] = json.loads(await reader.readexactly(length) or b"{}")
        with self._lock:
            self.requests += 1
            fault = self._queue.popleft() if self._queue else self.default
        stream = request.get("stream") is True
        model = str(request.get("model", "model"))
        kind = fault.kind
        if kind == "hang":
            await reader.read()  # until the gateway closes the connection
            return
        if kind == "status":
            body = json.dumps({"error": {"message": "scripted", "type": "server_error"}})
            extra = f"Retry-After: {fault.retry_after}\r\n" if fault.retry_after else ""
            await self._whole(writer, fault.status, body.encode(), extra)
            return
        if kind == "invalid_json":
            await self._whole(writer, 200, fault.body)
            return
        if kind == "huge":
            await self._huge(writer, model, fault.size)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if not stream:
            body = json.dumps(_completion(model, "Hello from the faulty upstream")).encode()
            if kind == "reset":
                writer.write(_head(200, "application/json", f"Content-Length: {len(body)}\r\n"))
                writer.write(body[: len(body) // 2])
                await writer.drain()
                _reset(writer)
                return
            await self._whole(writer, 200, body)
            return
        await self._stream(reader, writer, model, fault)

    async def _whole(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, extra: str = ""
    ) -> None:
        length = f"Content-Length: {len(body)}\r\n{extra}"
        writer.write(_head(status, "application/json", length) + body)
        await writer.drain()

    async def _huge(self, writer: asyncio.StreamWriter, model: str, size: int) -> None:
        """A chat completion whose text is ``size`` x's, written in pieces of one shared
        buffer: the fake runs in the test's process and must not weigh on its memory."""
        prefix, suffix = json.dumps(_completion(model, "\x00")).encode().split(b"\\u0000")
        piece = b"x" * (1 << 16)
        length = len(prefix) + size + len(suffix)
        writer.write(_head(200, "application/json", f"Content-Length: {length}\r\n") + prefix)
        left = size
        while left > 0:  # bounded: size / 64 KiB pieces
            writer.write(piece if left >= len(piece) else piece[:left])
            left -= len(piece)
            await writer.drain()  # the gateway stops reading: so does this writer
        writer.write(suffix)
        await writer.drain()

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, model: str, fault: Fault
    ) -> None:
        writer.write(_head(200, "text/event-stream", "Transfer-Encoding: chunked\r\n"))
        words = ["Hello", " from", " the", " faulty", " upstream"]
        if fault.kind == "ok":
            for word in words:
                writer.write(_chunk(_event(_delta(model, word))))
            writer.write(_chunk(_event(_delta(model, None, finish="stop"))))
            writer.write(_chunk(_event({**_delta(model, None), "choices": [], "usage": USAGE})))
            writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return
        if fault.kind == "endless":
            for sent in range(10**9):  # bounded by MAX_SERVE_SECONDS
                writer.write(_chunk(_event(_delta(model, f" word{sent}"))))
                await writer.drain()
                if fault.interval:
                    await asyncio.sleep(fault.interval)
            return
        for sent in range(fault.after):
            writer.write(_chunk(_event(_delta(model, words[sent % len(words)]))))
        await writer.drain()
        if fault.kind == "reset":
            _reset(writer)
            return
        await reader.read()  # stall: until the gateway closes the connection


def _head(status: int, content_type: str, fields: str) -> bytes:
    reason = {200: "OK", 429: "Too Many Requests"}.get(status, "Error")
    return f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{fields}\r\n".encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


def _event(document: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-faulty",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }


def _delta(model: str, text: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text is not None else {}
    return {
        "id": "chatcmpl-faulty",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed peer or a middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
