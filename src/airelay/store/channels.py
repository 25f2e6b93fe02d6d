"""Upstream channels. ``api_keys`` arrive and leave here already encrypted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store.db import now
from airelay.store.tables import channels


async def create(conn: AsyncConnection, values: dict[str, Any]) -> dict[str, Any]:
    ts = now()
    row = {"id": new_id("ch"), "created_at": ts, "updated_at": ts, **values}
    await conn.execute(channels.insert().values(**row))
    return row
