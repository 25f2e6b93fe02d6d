"""Usage batches written: what makes a usage flush idempotent as a whole transaction.

A flush first claims its batch id in the transaction that writes the batch. A retry of a
flush whose COMMIT went through but whose reply was lost finds the id taken and writes
nothing. On PostgreSQL ``ON CONFLICT DO NOTHING`` waits for a conflicting insert still in
flight to end, so a retry racing the first attempt's COMMIT sees its outcome.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.db import now
from airelay.store.tables import billing_batches


async def claim(conn: AsyncConnection, batch_id: str, instance_id: str) -> bool:
    """Record ``batch_id`` as written by this transaction; False if it was written before."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(billing_batches)
        .values(id=batch_id, instance_id=instance_id, created_at=now())
        .on_conflict_do_nothing(index_elements=["id"])
    )
    result = await conn.execute(statement)
    return bool(result.rowcount == 1)


async def prune(conn: AsyncConnection, older_than: int) -> int:
    """Forget the batches written before ``older_than`` (Unix seconds)."""
    result = await conn.execute(
        delete(billing_batches).where(billing_batches.c.created_at < older_than)
    )
    return int(result.rowcount)
