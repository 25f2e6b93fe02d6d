"""``INSERT ... ON CONFLICT DO UPDATE`` for SQLite and PostgreSQL (both speak it)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert


@functools.lru_cache(maxsize=32)
def upsert_statement(
    dialect_name: str, table: Table, keys: tuple[str, ...], counters: tuple[str, ...]
) -> Insert:
    """Built once per table and dialect: the billing flush runs this every few dozen ms, and
    building the statement and its cache key each time cost the event loop more than the
    write itself. SQLAlchemy memoizes the cache key on the statement object."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )
    return upsert


async def add_on_conflict(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    counters: Sequence[str],
) -> None:
    """Insert ``rows``; where a row with the same ``keys`` exists, add its ``counters``."""
    if not rows:
        return
    statement = upsert_statement(conn.dialect.name, table, tuple(keys), tuple(counters))
    await conn.execute(statement, list(rows))
