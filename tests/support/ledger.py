"""Read the money tables straight from the database, to check the gateway's books."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from airelay.store.db import create_engine
from airelay.store.tables import balance_holds, transactions, usage_logs, users


@dataclass(frozen=True)
class Books:
    balance: int  # unheld
    held: int
    credits: int  # sum of ledger credits
    usage_cost: int
    usage_rows: int
    total_usage: int

    @property
    def spendable(self) -> int:
        return self.balance + self.held


async def _books(database_url: str, user_id: str) -> Books:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            user = (
                await conn.execute(
                    select(users.c.balance, users.c.total_usage).where(users.c.id == user_id)
                )
            ).one()
            held = (
                await conn.execute(
                    select(func.coalesce(func.sum(balance_holds.c.amount), 0)).where(
                        balance_holds.c.user_id == user_id
                    )
                )
            ).scalar_one()
            credits = (
                await conn.execute(
                    select(func.coalesce(func.sum(transactions.c.amount), 0)).where(
                        transactions.c.user_id == user_id
                    )
                )
            ).scalar_one()
            cost, rows = (
                await conn.execute(
                    select(func.coalesce(func.sum(usage_logs.c.cost), 0), func.count()).where(
                        usage_logs.c.user_id == user_id
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    return Books(
        balance=int(user.balance),
        held=int(held),
        credits=int(credits),
        usage_cost=int(cost),
        usage_rows=int(rows),
        total_usage=int(user.total_usage),
    )


def books(database_url: str, user_id: str) -> Books:
    return asyncio.run(_books(database_url, user_id))


def wait_for_rows(database_url: str, user_id: str, count: int, timeout: float = 10) -> Books:
    """The books once ``count`` usage rows are written (the gateway writes in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        current = books(database_url, user_id)
        if current.usage_rows >= count:
            # SQLite runs each SELECT on its own snapshot: the read that first saw the rows
            # may have read other tables before the flush committed. Read all again.
            return books(database_url, user_id)
        if time.monotonic() > deadline:
            return current
        time.sleep(0.05)


async def _statuses(database_url: str, user_id: str) -> list[int]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(usage_logs.c.status).where(usage_logs.c.user_id == user_id)
            )
            return sorted(int(status) for (status,) in rows)
    finally:
        await engine.dispose()


def usage_statuses(database_url: str, user_id: str, count: int = 1) -> list[int]:
    """The statuses of the user's usage rows, once ``count`` of them are written."""
    wait_for_rows(database_url, user_id, count)
    return asyncio.run(_statuses(database_url, user_id))


async def _rows(database_url: str, user_id: str) -> list[dict[str, object]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(usage_logs).where(usage_logs.c.user_id == user_id))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def usage_rows(database_url: str, user_id: str, count: int = 1) -> list[dict[str, object]]:
    """The user's usage rows as stored, once ``count`` of them are written."""
    wait_for_rows(database_url, user_id, count)
    return asyncio.run(_rows(database_url, user_id))
