"""Candidate server: a raw ASGI 3 app (no framework), for uvicorn and granian.

Configured by environment: BENCH_UPSTREAM (URL) and BENCH_CLIENT (aiohttp|httpx).
Run e.g. ``uvicorn asgi_app:app`` or ``granian --interface asgi asgi_app:app``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import make_forwarder

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_forward = make_forwarder(
    os.environ.get("BENCH_CLIENT", "aiohttp"),
    os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18000/v1/chat/completions"),
)
_NOT_FOUND = b'{"error":{"message":"not found"}}'


async def _read_body(receive: Receive) -> bytes:
    msg = await receive()
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body", False):
        return body
    parts = [body]
    while msg.get("more_body", False):
        msg = await receive()
        parts.append(msg.get("body", b""))
    return b"".join(parts)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": _NOT_FOUND})
        return
    ctype = "application/json"
    for k, v in scope["headers"]:
        if k == b"content-type":
            ctype = v.decode("latin-1")
            break
    body = await _read_body(receive)
    up = await _forward(body, ctype)
    try:
        headers = [(b"content-type", up.content_type.encode("latin-1"))]
        if up.body is not None:
            headers.append((b"content-length", str(len(up.body)).encode()))
            await send({"type": "http.response.start", "status": up.status, "headers": headers})
            await send({"type": "http.response.body", "body": up.body})
            return
        assert up.chunks is not None
        await send({"type": "http.response.start", "status": up.status, "headers": headers})
        async for chunk in up.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await up.close()
