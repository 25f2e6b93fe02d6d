"""Management keys (``mgmt-...``), stored only as hashes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store.db import now
from airelay.store.tables import admin_keys


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(admin_keys))).scalar_one())


async def create(conn: AsyncConnection, key_hash: str, name: str) -> str:
    key_id = new_id("mk")
    await conn.execute(
        admin_keys.insert().values(
            id=key_id, name=name, key_hash=key_hash, status="active", created_at=now()
        )
    )
    return key_id


async def exists(conn: AsyncConnection, key_hash: str) -> bool:
    query = select(admin_keys.c.id).where(admin_keys.c.key_hash == key_hash)
    return (await conn.execute(query)).first() is not None


async def active_hashes(conn: AsyncConnection) -> list[str]:
    query = select(admin_keys.c.key_hash).where(admin_keys.c.status == "active")
    return list((await conn.execute(query)).scalars())
