"""Fake OpenAI chat-completions upstream: a raw asyncio Protocol on uvloop, far cheaper than
the gateway so that the gateway is what a benchmark measures.

- ``"stream"`` false or absent: a fixed ~610-byte ``chat.completion`` with a ``usage`` object.
- ``"stream": true``: 20 SSE chunks (19 with content, one with ``finish_reason``), then a usage
  chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``; all written at
  once (chunked encoding, one write per chunk).
- model ``bench-slow``: the same stream, one chunk every ``--slow-interval`` seconds (for
  holding many streams open).
- ``POST /v1/messages``: the same answers in Anthropic's Messages format (a ``message``;
  streamed: ``message_start``, a text block of 19 deltas, ``message_delta`` with the usage,
  ``message_stop``), for the translated paths (an OpenAI client on an Anthropic channel).

Usage: ``python bench/upstream.py --port 18000 [--slow-interval 1.0]``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, cast

import orjson
import uvloop

SLOW_MODEL = "bench-slow"
CHUNKS = 20
_ID = "chatcmpl-bench0000000000000000000000000"
_MODEL = "gpt-4o-mini-2024-07-18"

COMPLETION: bytes = orjson.dumps(
    {
        "id": _ID,
        "object": "chat.completion",
        "created": 1700000000,
        "model": _MODEL,
        "system_fingerprint": "fp_0123456789",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": (
                        "This is a fixed answer from the fake upstream used to benchmark the "
                        "gateway. It is long enough to look like a short real reply, with a "
                        "couple of sentences of plain text in it, so that the body is about "
                        "six hundred bytes in total."
                    ),
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 21, "completion_tokens": 48, "total_tokens": 69},
    }
)
PLAIN_RESPONSE: bytes = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(COMPLETION)).encode() + b"\r\n\r\n" + COMPLETION
)
SSE_HEAD: bytes = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
)
BAD_REQUEST: bytes = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"


def _chunked(event: dict[str, Any] | None) -> bytes:
    payload = b"data: " + (orjson.dumps(event) if event else b"[DONE]") + b"\n\n"
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _chunk(i: int) -> dict[str, Any]:
    last = i == CHUNKS - 1
    return {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": _MODEL,
        "choices": [
            {
                "index": 0,
                "delta": {} if last else {"content": f"tok{i} "},
                "finish_reason": "stop" if last else None,
            }
        ],
    }


USAGE_CHUNK: bytes = _chunked(
    {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": _MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 21, "completion_tokens": CHUNKS, "total_tokens": 41},
    }
)
EVENTS: list[bytes] = [_chunked(_chunk(i)) for i in range(CHUNKS)]
TAIL: list[bytes] = [_chunked(None), b"0\r\n\r\n"]

_MESSAGE_ID = "msg_01bench000000000000000000"
_CLAUDE = "claude-bench-20250101"
ANTHROPIC_MESSAGE: bytes = orjson.dumps(
    {
        "id": _MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": _CLAUDE,
        "content": [
            {"type": "text", "text": orjson.loads(COMPLETION)["choices"][0]["message"]["content"]}
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 21, "output_tokens": 48},
    }
)
ANTHROPIC_PLAIN: bytes = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(ANTHROPIC_MESSAGE)).encode() + b"\r\n\r\n" + ANTHROPIC_MESSAGE
)


def _event(name: str, data: dict[str, Any]) -> bytes:
    payload = b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data})
    payload += b"\n\n"
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


ANTHROPIC_EVENTS: list[bytes] = [
    _event(
        "message_start",
        {
            "message": {
                "id": _MESSAGE_ID,
                "type": "message",
                "role": "assistant",
                "model": _CLAUDE,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 21, "output_tokens": 1},
            }
        },
    ),
    _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    *[
        _event(
            "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}}
        )
        for i in range(CHUNKS - 1)
    ],
    _event("content_block_stop", {"index": 0}),
    _event(
        "message_delta",
        {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": CHUNKS},
        },
    ),
    _event("message_stop", {}),
    b"0\r\n\r\n",
]


def stream_parts(include_usage: bool) -> list[bytes]:
    return [*EVENTS, *([USAGE_CHUNK] if include_usage else []), *TAIL]


class UpstreamProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: Content-Length request bodies only."""

    slow_interval = 1.0

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.timers: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            pos = head.find(b"\r\ncontent-length:")
            if pos >= 0:
                stop = head.find(b"\r\n", pos + 2)
                length = int(head[pos + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            close = b"\r\nconnection: close" in head
            if head.startswith(b"post /v1/messages "):
                self._respond_anthropic(body, close)
            else:
                self._respond(body, close)

    def _respond_anthropic(self, body: bytes, close: bool) -> None:
        t = self.transport
        assert t is not None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            t.write(BAD_REQUEST)
        elif request.get("stream") is True:
            t.write(SSE_HEAD)
            t.writelines(ANTHROPIC_EVENTS)
        else:
            t.write(ANTHROPIC_PLAIN)
        if close:
            t.close()

    def _respond(self, body: bytes, close: bool) -> None:
        t = self.transport
        assert t is not None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            t.write(BAD_REQUEST)
        elif request.get("stream") is True:
            options = request.get("stream_options") or {}
            parts = stream_parts(options.get("include_usage") is True)
            t.write(SSE_HEAD)
            if request.get("model") == SLOW_MODEL:
                self._write_slowly(parts, close)
                return
            t.writelines(parts)
        else:
            t.write(PLAIN_RESPONSE)
        if close:
            t.close()

    def _write_slowly(self, parts: list[bytes], close: bool) -> None:
        """First chunk now, then one per interval; the terminator goes with the last one."""
        loop = asyncio.get_running_loop()
        self.timers.clear()
        steps = [*parts[: CHUNKS - 1], b"".join(parts[CHUNKS - 1 :])]
        for i, part in enumerate(steps):
            self.timers.append(loop.call_later(i * self.slow_interval, self._send, part))
        if close:
            self.timers.append(loop.call_later(len(steps) * self.slow_interval, self._close))

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18000)
    ap.add_argument("--slow-interval", type=float, default=1.0, help="seconds between chunks")
    args = ap.parse_args()
    UpstreamProtocol.slow_interval = args.slow_interval
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
