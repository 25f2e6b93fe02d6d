"""``HEAD /``: clients probe the base URL before their first call (Claude Code does, and
reports the gateway unreachable unless it answers 200). No key, no body."""

from __future__ import annotations

from aiohttp import web


async def head_root(request: web.Request) -> web.StreamResponse:
    return web.Response(status=200)
