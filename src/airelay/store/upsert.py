"""``INSERT ... ON CONFLICT DO UPDATE`` for SQLite and PostgreSQL (both speak it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


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
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in counters},
    )
    await conn.execute(statement, list(rows))
