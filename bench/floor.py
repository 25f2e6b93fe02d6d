"""The floor: a pass-through proxy with no gateway logic (aiohttp.web server, one pooled
aiohttp client session, bytes forwarded unchanged), the cheapest the gateway's own stack can
be. ``POST /v1/chat/completions`` goes to ``--upstream``; a Content-Length answer is read
whole, anything else is streamed chunk by chunk as it arrives.

Usage: ``python bench/floor.py --port 18080 --upstream http://127.0.0.1:18000/v1/chat/completions``
(``--reuse-port`` lets several processes share the port).
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import uvloop
from aiohttp import web


def build_app(upstream: str) -> web.Application:
    session: aiohttp.ClientSession | None = None

    async def chat(request: web.Request) -> web.StreamResponse:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None),
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
            )
        body = await request.read()
        ctype = request.headers.get("Content-Type", "application/json")
        async with session.post(upstream, data=body, headers={"Content-Type": ctype}) as up:
            headers = {"Content-Type": up.headers.get("Content-Type", "application/json")}
            if up.content_length is not None:
                return web.Response(status=up.status, body=await up.read(), headers=headers)
            resp = web.StreamResponse(status=up.status, headers=headers)
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def serve(port: int, upstream: str, reuse_port: bool) -> None:
    runner = web.AppRunner(build_app(upstream), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048, reuse_port=reuse_port or None)
    await site.start()
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--upstream", default="http://127.0.0.1:18000/v1/chat/completions")
    ap.add_argument("--reuse-port", action="store_true")
    args = ap.parse_args()
    uvloop.run(serve(args.port, args.upstream, args.reuse_port))


if __name__ == "__main__":
    main()
