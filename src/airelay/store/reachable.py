"""Whether the database (and Redis, when one is configured) answer now: readiness checks.

Each check is bounded in time and returns why it failed, one short line, or None; it never
raises for an outage. ``GET /ready`` calls these, never the hot path.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store.redis_scripts import Scripts, open_scripts
from airelay.store.unavailable import reason

CHECK_SECONDS = 2.0
_clients: dict[str, Scripts] = {}


async def database_problem(engine: AsyncEngine, seconds: float = CHECK_SECONDS) -> str | None:
    try:
        async with asyncio.timeout(seconds):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return f"no answer in {seconds:g} s"
    except Exception as exc:  # any failure to answer SELECT 1 is "not ready"
        return reason(exc)
    return None


async def redis_problem(url: str, seconds: float = CHECK_SECONDS) -> str | None:
    """Whether Redis at ``url`` answers PING (one client per URL and process, made on the
    first check)."""
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = open_scripts(url)
    try:
        async with asyncio.timeout(seconds):
            await client.call(b"PING")
    except TimeoutError:
        return f"no answer in {seconds:g} s"
    except Exception as exc:
        if not client.failed(exc):
            raise
        return reason(exc)
    return None
