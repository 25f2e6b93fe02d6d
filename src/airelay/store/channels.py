"""Upstream channels. ``api_keys`` arrive and leave here already encrypted.

The management API's writes (``add``, ``change``, ``remove``) run their own transaction and
record the change (``config_log``), so that every instance rebuilds its routes from the
channel read again alone, not from the whole configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.ids import new_id
from airelay.store import config_log, crud
from airelay.store.db import now
from airelay.store.tables import channels


class NotFound(LookupError):
    """No such channel."""


async def create(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a channel (inside the caller's transaction; no change record: the bulk
    import reloads everything once)."""
    ts = now()
    row = {"id": new_id("ch"), "created_at": ts, "updated_at": ts, **values}
    await conn.execute(channels.insert().values(**row))
    return row


async def add(engine: AsyncEngine, values: dict[str, Any]) -> dict[str, Any]:
    """A new channel, recorded as a configuration change of that channel."""
    async with engine.begin() as conn:
        row = await create(conn, values)
        await config_log.record(conn, config_log.CHANNEL, row["id"])
    return row


async def change(
    engine: AsyncEngine,
    channel_id: str,
    columns: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """Change a channel: ``columns`` gets the stored row (in the transaction, so that rules
    on the whole channel see what the write changes) and returns the columns to set; it may
    raise to refuse. NotFound if there is no such channel."""
    async with engine.begin() as conn:
        current = await crud.get(conn, channels, channel_id)
        if current is None:
            raise NotFound(channel_id)
        values = {**columns(current), "updated_at": now()}
        row = await crud.update(conn, channels, channel_id, values)
        await config_log.record(conn, config_log.CHANNEL, channel_id)
    return row


async def remove(engine: AsyncEngine, channel_id: str) -> None:
    async with engine.begin() as conn:
        if not await crud.delete(conn, channels, channel_id):
            raise NotFound(channel_id)
        await config_log.record(conn, config_log.CHANNEL, channel_id)


async def listed(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await crud.all_rows(conn, channels)


async def read(engine: AsyncEngine, channel_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        return await crud.get(conn, channels, channel_id)


async def rows_of(conn: AsyncConnection, channel_ids: set[str]) -> list[dict[str, Any]]:
    """The rows of these channels (fewer when some were deleted), for the snapshot."""
    if not channel_ids:
        return []
    query = select(channels).where(channels.c.id.in_(sorted(channel_ids)))
    return [dict(r) for r in (await conn.execute(query)).mappings()]
