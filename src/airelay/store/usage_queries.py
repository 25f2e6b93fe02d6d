"""Reading usage: pages of raw rows, totals from the daily rollups, expiry of raw rows.

Time bounds are Unix seconds, ``start`` inclusive and ``end`` exclusive; day bounds are
'YYYY-MM-DD' strings, both inclusive (the rollups' key, which sorts as text).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.tables import channels, usage_daily, usage_logs, users
from airelay.store.usage import COUNTERS


def _row_conditions(
    user_id: str | None,
    model: str | None,
    token_id: str | None,
    start: int | None,
    end: int | None,
) -> list[ColumnElement[bool]]:
    # Equality on the leading column plus a created_at range: each filter has its own
    # (column, created_at) index, which also yields the rows newest first.
    c = usage_logs.c
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(c.user_id == user_id)
    if model is not None:
        conditions.append(c.model == model)
    if token_id is not None:
        conditions.append(c.token_id == token_id)
    if start is not None:
        conditions.append(c.created_at >= start)
    if end is not None:
        conditions.append(c.created_at < end)
    return conditions


async def page_usage(
    conn: AsyncConnection,
    *,
    user_id: str | None = None,
    model: str | None = None,
    token_id: str | None = None,
    start: int | None = None,
    end: int | None = None,
    page: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page (from 1) of raw usage rows, newest first, and how many rows match."""
    conditions = _row_conditions(user_id, model, token_id, start, end)
    offset = (page - 1) * limit
    if offset >= DEEP_OFFSET:
        rows = await _deep_page(conn, conditions, offset, limit)
    else:
        rows = await _rows(conn, conditions, offset, limit)
    total = await _count(conn, conditions)
    return rows, total


# Below this offset a plain OFFSET is cheaper than the three steps of a deep page.
DEEP_OFFSET = 2000


async def _rows(
    conn: AsyncConnection, conditions: list[ColumnElement[bool]], offset: int, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(usage_logs)
        .where(*conditions)
        .order_by(usage_logs.c.created_at.desc(), usage_logs.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def _count(conn: AsyncConnection, conditions: list[ColumnElement[bool]]) -> int:
    counting = select(func.count()).select_from(usage_logs).where(*conditions)
    return int((await conn.execute(counting)).scalar_one())


async def _deep_page(
    conn: AsyncConnection, conditions: list[ColumnElement[bool]], offset: int, limit: int
) -> list[dict[str, Any]]:
    """The page at a large ``offset`` without reading every skipped row from the table.

    A plain OFFSET fetches each skipped row (the id tie-break is not in the indexes), so it
    grows with the offset: 0.7 s at a million rows. Instead: find the ``created_at`` of the
    row at ``offset`` and count the rows newer than it, both from a (column, created_at)
    index alone, then read the page from that time on, skipping only the rows that share it.
    """
    created_at = usage_logs.c.created_at
    boundary = (
        await conn.execute(
            select(created_at)
            .where(*conditions)
            .order_by(created_at.desc())
            .offset(offset)
            .limit(1)
        )
    ).scalar()
    if boundary is None:
        return []
    newer = await _count(conn, [*conditions, created_at > boundary])
    return await _rows(conn, [*conditions, created_at <= boundary], offset - newer, limit)


async def rows_after(
    conn: AsyncConnection,
    *,
    user_id: str | None = None,
    model: str | None = None,
    token_id: str | None = None,
    start: int | None = None,
    end: int | None = None,
    after: tuple[int, str] | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """Up to ``limit`` raw rows newest first, older than ``after`` (the ``created_at`` and
    ``id`` of the last row read): an export reads every row matching the filters in pages
    without an OFFSET, and a row recorded meanwhile shifts no page (none is read twice)."""
    conditions = _row_conditions(user_id, model, token_id, start, end)
    if after is not None:
        at, row_id = after
        c = usage_logs.c
        conditions.append(or_(c.created_at < at, and_(c.created_at == at, c.id < row_id)))
    return await _rows(conn, conditions, 0, limit)


async def token_spend(
    conn: AsyncConnection, token_id: str, start: int | None = None, end: int | None = None
) -> int:
    """Units a key was charged between two times, from the raw rows (rollups have no key)."""
    conditions = _row_conditions(None, None, token_id, start, end)
    query = select(func.coalesce(func.sum(usage_logs.c.cost), 0)).where(*conditions)
    return int((await conn.execute(query)).scalar_one())


def _day_conditions(
    user_id: str | None, model: str | None, start_day: str | None, end_day: str | None
) -> list[ColumnElement[bool]]:
    c = usage_daily.c
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(c.user_id == user_id)
    if model is not None:
        conditions.append(c.model == model)
    if start_day is not None:
        conditions.append(c.day >= start_day)
    if end_day is not None:
        conditions.append(c.day <= end_day)
    return conditions


async def spend_between(
    conn: AsyncConnection, user_id: str, start_day: str | None, end_day: str | None
) -> int:
    """Units the user was charged on the days from ``start_day`` to ``end_day``."""
    conditions = _day_conditions(user_id, None, start_day, end_day)
    query = select(func.coalesce(func.sum(usage_daily.c.cost), 0)).where(*conditions)
    return int((await conn.execute(query)).scalar_one())


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


@dataclass(slots=True)
class UsageSummary:
    """Counter totals (``requests``, tokens, ``cost`` in units) overall, per model, per day."""

    totals: dict[str, int] = field(default_factory=_zero)
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)
    by_day: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, day: str, model: str, counters: Iterable[tuple[str, int]]) -> None:
        per_model = self.by_model.setdefault(model, _zero())
        per_day = self.by_day.setdefault(day, _zero())
        for name, value in counters:
            self.totals[name] += value
            per_model[name] += value
            per_day[name] += value


async def summarize(
    conn: AsyncConnection,
    *,
    user_id: str | None = None,
    model: str | None = None,
    start_day: str | None = None,
    end_day: str | None = None,
) -> UsageSummary:
    """Totals from the rollups: one grouped pass (day x model), folded here both ways."""
    c = usage_daily.c
    sums = [func.sum(c[name]).label(name) for name in COUNTERS]
    query = (
        select(c.day, c.model, *sums)
        .where(*_day_conditions(user_id, model, start_day, end_day))
        .group_by(c.day, c.model)
    )
    summary = UsageSummary()
    for row in (await conn.execute(query)).mappings():
        summary.add(row["day"], row["model"], ((n, int(row[n])) for n in COUNTERS))
    return summary


async def totals_by(
    conn: AsyncConnection,
    group: str,
    *,
    user_id: str | None = None,
    model: str | None = None,
    start_day: str | None = None,
    end_day: str | None = None,
) -> dict[str, dict[str, int]]:
    """Counter totals from the rollups per value of one of their keys (``channel_id`` or
    ``user_id``): what the operator's view across users adds to the per-model totals."""
    if group not in GROUPS:
        raise ValueError(f"the rollups are not keyed by {group!r}")
    c = usage_daily.c
    sums = [func.sum(c[name]).label(name) for name in COUNTERS]
    query = (
        select(c[group].label("key"), *sums)
        .where(*_day_conditions(user_id, model, start_day, end_day))
        .group_by(c[group])
    )
    return {
        row["key"]: {n: int(row[n]) for n in COUNTERS}
        for row in (await conn.execute(query)).mappings()
    }


# The rollup keys that ``totals_by`` groups on, and the table and column that name them.
GROUPS = {"channel_id": (channels, channels.c.name), "user_id": (users, users.c.email)}


async def labels(conn: AsyncConnection, group: str, ids: Iterable[str]) -> dict[str, str | None]:
    """The channel names or user e-mails of ``ids`` (in batches: PostgreSQL and SQLite
    cap a statement's parameters); an id that is gone is left out."""
    table, column = GROUPS[group]
    wanted = [i for i in ids if i]
    found: dict[str, str | None] = {}
    for at in range(0, len(wanted), 500):
        chunk = wanted[at : at + 500]
        query = select(table.c.id, column).where(table.c.id.in_(chunk))
        for row in (await conn.execute(query)).all():
            found[row[0]] = row[1]
    return found


async def delete_older_than(conn: AsyncConnection, cutoff_ts: int, batch: int = 10000) -> int:
    """Delete raw rows created before ``cutoff_ts``, ``batch`` rows per transaction (short
    locks, bounded WAL), committing each; the rollups stay. Pass a connection from
    ``engine.connect()``. Returns how many rows went."""
    deleted = 0
    while True:
        oldest = (
            select(usage_logs.c.id)
            .where(usage_logs.c.created_at < cutoff_ts)
            .order_by(usage_logs.c.created_at)
            .limit(batch)
        )
        result = await conn.execute(usage_logs.delete().where(usage_logs.c.id.in_(oldest)))
        await conn.commit()
        count = int(result.rowcount)
        deleted += count
        if count < batch:
            return deleted
