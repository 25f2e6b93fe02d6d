"""Usage batches written: what makes a usage flush idempotent as a whole transaction.

A flush first claims its batch id in the transaction that writes the batch. A retry of a
flush whose COMMIT went through but whose reply was lost finds the id taken and writes
nothing. On PostgreSQL ``ON CONFLICT DO NOTHING`` waits for a conflicting insert still in
flight to end, so a retry racing the first attempt's COMMIT sees its outcome.
"""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from airelay.store import driver
from airelay.store.db import now
from airelay.store.tables import billing_batches


@functools.lru_cache(maxsize=2)
def _claim(dialect_name: str) -> Insert:
    """Built once per dialect: a flush claims its id every few dozen ms, and a statement
    built per call costs the event loop its construction and its cache key."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement: Insert = (
        dialect.insert(billing_batches)
        .values(
            id=bindparam("b_id"),
            instance_id=bindparam("b_instance"),
            created_at=bindparam("b_now"),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(billing_batches.c.id)
    )
    return statement


async def claim(conn: AsyncConnection, batch_id: str, instance_id: str) -> bool:
    """Record ``batch_id`` as written by this transaction; False if it was written before."""
    params = {"b_id": batch_id, "b_instance": instance_id, "b_now": now()}
    return bool(await driver.fetch(conn, _claim(conn.dialect.name), params))


async def prune(conn: AsyncConnection, older_than: int) -> int:
    """Forget the batches written before ``older_than`` (Unix seconds)."""
    result = await conn.execute(
        delete(billing_batches).where(billing_batches.c.created_at < older_than)
    )
    return int(result.rowcount)
