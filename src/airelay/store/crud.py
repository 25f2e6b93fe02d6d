"""Generic row operations shared by the repositories: get, page, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection


async def get(conn: AsyncConnection, table: Table, row_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(table).where(table.c.id == row_id))).mappings().first()
    return dict(row) if row else None


async def page(
    conn: AsyncConnection,
    table: Table,
    *,
    page: int,
    limit: int,
    where: ColumnElement[bool] | None = None,
    order_by: Any = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of rows (``page`` counts from 1) and the total number of matching rows."""
    query = select(table)
    counting = select(func.count()).select_from(table)
    if where is not None:
        query = query.where(where)
        counting = counting.where(where)
    order = order_by if order_by is not None else table.c.created_at
    query = query.order_by(order, table.c.id).offset((page - 1) * limit).limit(limit)
    rows = [dict(r) for r in (await conn.execute(query)).mappings()]
    total = int((await conn.execute(counting)).scalar_one())
    return rows, total


async def all_rows(conn: AsyncConnection, table: Table) -> list[dict[str, Any]]:
    query = select(table).order_by(table.c.created_at, table.c.id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def update(
    conn: AsyncConnection, table: Table, row_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Change an existing row and return it as it now is (KeyError if there is none)."""
    if values:
        await conn.execute(table.update().where(table.c.id == row_id).values(**values))
    row = await get(conn, table, row_id)
    if row is None:
        raise KeyError(row_id)
    return row


async def delete(conn: AsyncConnection, table: Table, row_id: str) -> bool:
    result = await conn.execute(table.delete().where(table.c.id == row_id))
    return bool(result.rowcount)
