"""Whether the database (and Redis, when one is configured) answer now: readiness checks.

Each check is bounded in time and returns why it failed, one short line, or None; it never
raises for an outage. ``GET /ready`` calls these, never the hot path.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.store.redis_client import TIMEOUT_SECONDS
from airelay.store.redis_scripts import Scripts, open_scripts
from airelay.store.unavailable import reason

CHECK_SECONDS = 2.0
_clients: dict[tuple[str, float], Scripts] = {}


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


async def redis_problem(
    url: str, timeout: float = TIMEOUT_SECONDS, seconds: float = CHECK_SECONDS
) -> str | None:
    """Whether Redis at ``url`` answers PING within ``timeout`` (``AIRELAY_REDIS_TIMEOUT``:
    what the instance itself waits), the check bounded by ``seconds`` or that if longer
    (one client per URL, timeout and process, made on the first check)."""
    client = _clients.get((url, timeout))
    if client is None:
        client = _clients[(url, timeout)] = open_scripts(url, timeout=timeout)
    seconds = max(seconds, timeout)
    try:
        async with asyncio.timeout(seconds):
            await client.call(b"PING")
    except TimeoutError:
        return f"no answer in {timeout:g} s"
    except Exception as exc:
        if not client.failed(exc):
            raise
        return reason(exc)
    return None
