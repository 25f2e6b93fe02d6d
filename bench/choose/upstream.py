"""Fake OpenAI-style upstream: a raw asyncio Protocol on uvloop, as cheap as we can make it.

POST with ``"stream": true`` in the body -> 20 SSE chunks + ``data: [DONE]`` (chunked encoding,
one transport.write per chunk, no delay). Anything else -> a fixed ~600-byte chat.completion JSON.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import orjson
import uvloop

COMPLETION: bytes = orjson.dumps(
    {
        "id": "chatcmpl-bench0000000000000000000000000",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
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

PLAIN_HEAD: bytes = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(COMPLETION)).encode() + b"\r\n\r\n"
)
PLAIN_RESPONSE: bytes = PLAIN_HEAD + COMPLETION

SSE_HEAD: bytes = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def _sse_event(i: int) -> bytes:
    delta = {"content": f"tok{i} "} if i < 19 else {}
    chunk = {
        "id": "chatcmpl-bench0000000000000000000000000",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": None if i < 19 else "stop"}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _chunked(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


SSE_CHUNKS: list[bytes] = [_chunked(_sse_event(i)) for i in range(20)] + [
    _chunked(b"data: [DONE]\n\n"),
    b"0\r\n\r\n",
]
SSE_BODY: bytes = b"".join(_sse_event(i) for i in range(20)) + b"data: [DONE]\n\n"


class UpstreamProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: Content-Length request bodies only."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

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
            self._respond(body, b"\r\nconnection: close" in head)

    def _respond(self, body: bytes, close: bool) -> None:
        t = self.transport
        assert t is not None
        if b'"stream":true' in body or b'"stream": true' in body:
            t.write(SSE_HEAD)
            for chunk in SSE_CHUNKS:
                t.write(chunk)
        else:
            t.write(PLAIN_RESPONSE)
        if close:
            t.close()


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18000)
    args = ap.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
