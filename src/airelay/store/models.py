"""The model catalog: public model ids, owners and prices.

The management API's writes (``add``, ``change``, ``remove``) run their own transaction and
record the change (``config_log``): every instance reads that catalog entry again alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.store import config_log, crud
from airelay.store.db import now
from airelay.store.tables import models


class NotFound(LookupError):
    """No such model."""


class Exists(Exception):
    """A model of that id is in the catalog already."""


async def create(
    conn: AsyncConnection,
    model_id: str,
    owned_by: str,
    pricing: dict[str, Any],
    max_output_tokens: int | None = None,
    reasoning: bool = True,
) -> dict[str, Any]:
    """Insert a catalog entry (inside the caller's transaction; no change record)."""
    ts = now()
    row = {
        "id": model_id,
        "owned_by": owned_by,
        "pricing": pricing,
        "max_output_tokens": max_output_tokens,
        "reasoning": reasoning,
        "created_at": ts,
        "updated_at": ts,
    }
    await conn.execute(models.insert().values(**row))
    return row


async def add(engine: AsyncEngine, values: dict[str, Any]) -> dict[str, Any]:
    """A new catalog entry (``id``, ``owned_by``, ``pricing``, ``max_output_tokens``,
    ``reasoning``); Exists if the id is taken."""
    async with engine.begin() as conn:
        if await crud.get(conn, models, values["id"]) is not None:
            raise Exists(values["id"])
        row = await create(
            conn,
            values["id"],
            values["owned_by"],
            values["pricing"],
            values["max_output_tokens"],
            values.get("reasoning", True),
        )
        await config_log.record(conn, config_log.MODEL, row["id"])
    return row


async def change(
    engine: AsyncEngine, model_id: str, columns: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Change an entry: ``columns`` gets the stored row and returns the columns to set (a
    patch of prices merges into the stored ones). NotFound if there is none."""
    async with engine.begin() as conn:
        current = await crud.get(conn, models, model_id)
        if current is None:
            raise NotFound(model_id)
        values = {**columns(current), "updated_at": now()}
        row = await crud.update(conn, models, model_id, values)
        await config_log.record(conn, config_log.MODEL, model_id)
    return row


async def remove(engine: AsyncEngine, model_id: str) -> None:
    async with engine.begin() as conn:
        if not await crud.delete(conn, models, model_id):
            raise NotFound(model_id)
        await config_log.record(conn, config_log.MODEL, model_id)


async def listed(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return await crud.all_rows(conn, models)


async def read(engine: AsyncEngine, model_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        return await crud.get(conn, models, model_id)


async def rows_of(conn: AsyncConnection, model_ids: set[str]) -> list[dict[str, Any]]:
    """The rows of these entries (fewer when some were deleted), for the snapshot."""
    if not model_ids:
        return []
    query = select(models).where(models.c.id.in_(sorted(model_ids)))
    return [dict(r) for r in (await conn.execute(query)).mappings()]
