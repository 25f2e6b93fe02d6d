"""Key/value rows: the configuration version other instances poll, and system settings."""

from __future__ import annotations

import os
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.tables import meta

CONFIG_VERSION = "config_version"
# The recent entity-scoped configuration writes (see store.config_log).
CONFIG_CHANGES = "config_changes"
SETTINGS = "settings"


async def get(conn: AsyncConnection, key: str) -> str | None:
    return (await conn.execute(select(meta.c.value).where(meta.c.key == key))).scalar()


async def put(conn: AsyncConnection, key: str, value: str) -> None:
    result = await conn.execute(update(meta).where(meta.c.key == key).values(value=value))
    if result.rowcount == 0:
        await conn.execute(meta.insert().values(key=key, value=value))


async def config_version(conn: AsyncConnection) -> str:
    return await get(conn, CONFIG_VERSION) or ""


async def bump_config_version(conn: AsyncConnection) -> None:
    """Mark cached configuration (keys, channels, models) stale for every instance.

    A fresh random value rather than a counter: two concurrent writers can never leave it
    equal to what a poller saw between them.
    """
    await put(conn, CONFIG_VERSION, os.urandom(8).hex())
    # Not an entity-scoped change: an instance behind this version reloads everything.
    await put_json(conn, CONFIG_CHANGES, {"entries": []})


async def get_json(conn: AsyncConnection, key: str) -> dict[str, Any] | None:
    value = await get(conn, key)
    return orjson.loads(value) if value else None


async def put_json(conn: AsyncConnection, key: str, value: dict[str, Any]) -> None:
    await put(conn, key, orjson.dumps(value).decode("utf-8"))
