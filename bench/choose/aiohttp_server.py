"""Candidate server: aiohttp.web on uvloop, forwarding POST /v1/chat/completions."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import uvloop
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import Forward, make_forwarder


def build_app(forward: Forward) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        up = await forward(body, request.headers.get("Content-Type", "application/json"))
        try:
            if up.body is not None:
                return web.Response(
                    status=up.status, body=up.body, headers={"Content-Type": up.content_type}
                )
            assert up.chunks is not None
            resp = web.StreamResponse(status=up.status, headers={"Content-Type": up.content_type})
            await resp.prepare(request)
            async for chunk in up.chunks:
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        finally:
            await up.close()

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def serve(port: int, upstream: str, client: str) -> None:
    runner = web.AppRunner(build_app(make_forwarder(client, upstream)), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--upstream", default="http://127.0.0.1:18000/v1/chat/completions")
    ap.add_argument("--client", choices=["aiohttp", "httpx"], default="aiohttp")
    args = ap.parse_args()
    uvloop.run(serve(args.port, args.upstream, args.client))


if __name__ == "__main__":
    main()
