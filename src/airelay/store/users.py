"""Users: the holders of balances and keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store.db import now
from airelay.store.tables import users


async def create(
    conn: AsyncConnection,
    *,
    email: str | None,
    name: str | None = None,
    group: str = "default",
    balance: int = 0,
) -> dict[str, Any]:
    ts = now()
    row = {
        "id": new_id("usr"),
        "email": email,
        "name": name,
        "group": group,
        "status": "active",
        "balance": balance,
        "total_usage": 0,
        "created_at": ts,
        "updated_at": ts,
    }
    await conn.execute(users.insert().values(**row))
    return row


async def email_taken(conn: AsyncConnection, email: str, except_id: str | None = None) -> bool:
    query = select(users.c.id).where(users.c.email == email)
    if except_id is not None:
        query = query.where(users.c.id != except_id)
    return (await conn.execute(query)).first() is not None


async def statuses(conn: AsyncConnection) -> dict[str, tuple[str, str]]:
    """User id -> (status, group), for the configuration snapshot."""
    rows = await conn.execute(select(users.c.id, users.c.status, users.c.group))
    return {row.id: (row.status, row.group) for row in rows}
