"""Statements sent at the driver level on SQLite, for the writes of every billing flush.

SQLAlchemy's async adapter makes three or four trips to aiosqlite's thread per statement
(cursor, execute, fetch, close), and every trip is a GIL handoff and an event-loop wake-up;
aiosqlite's own ``execute_fetchall`` and ``executemany`` make one: a flush of one user's rows
took 21 trips through the adapter and takes 10 (its claim, rollups, key and hold writes go
here; the usage rows themselves still go through SQLAlchemy, see ``store.usage``). The
statements join the caller's transaction: SQLite's is the connection's own (Python's
sqlite3 begins it before the first write, and SQLAlchemy commits it). On PostgreSQL asyncpg
runs on the event loop and SQLAlchemy's path is kept: it starts the transaction the
statements must join.

Only for statements whose parameters need no type processing (integers and strings): the
SQL is compiled once per statement and the values are passed to the driver as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


@functools.lru_cache(maxsize=64)
def _compiled(statement: Executable, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """The SQL text and the order of its (named) parameters, for a statement built once."""
    assert isinstance(statement, ClauseElement)
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    return compiled.string, tuple(compiled.positiontup or ())


async def _aiosqlite(conn: AsyncConnection) -> Any:
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def fetch(
    conn: AsyncConnection, statement: Executable, params: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Execute ``statement`` with ``params``; its rows (RETURNING) as tuples."""
    if conn.dialect.name != "sqlite":
        return [tuple(row) for row in await conn.execute(statement, params)]
    sql, names = _compiled(statement, conn.dialect)
    driver = await _aiosqlite(conn)
    return [tuple(row) for row in await driver.execute_fetchall(sql, [params[n] for n in names])]


async def execute_many(
    conn: AsyncConnection, statement: Executable, rows: Sequence[dict[str, Any]]
) -> None:
    """Execute ``statement`` once per parameter set in ``rows`` (one trip on SQLite)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        await conn.execute(statement, list(rows))
        return
    sql, names = _compiled(statement, conn.dialect)
    driver = await _aiosqlite(conn)
    await driver.executemany(sql, [[row[n] for n in names] for row in rows])
