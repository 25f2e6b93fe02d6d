"""Two instances refilling holds and flushing usage for the same user at once, on one
database: locks are taken in one order everywhere (the user's row before its holds), so
PostgreSQL never finds a deadlock, and the books stay exact."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import func, select

from airelay.billing.wallets import Wallets, WalletSettings
from airelay.store import tables, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade

from .test_wallets import row

HOLD = 20
CALLS = 300  # per instance
COST = 7


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_refills_and_flushes_of_two_instances_do_not_deadlock(
    migrated: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="airelay.billing.wallets")
    failures: list[BaseException] = []

    async def instance(wallets: Wallets, users_: list[str]) -> None:
        for i in range(CALLS):
            try:
                user = users_[i % len(users_)]
                reservation = await wallets.reserve(user, None, COST)
                wallets.settle(reservation, COST, row(user))
                if i % 3 == 0:
                    await wallets.flush()  # flushes race the refills taken in the background
            except Exception as exc:  # a deadlock surfaces here or in the background flush
                failures.append(exc)
            await asyncio.sleep(0)

    async def scenario() -> tuple[int, int, int]:
        engine = create_engine(migrated)
        async with engine.begin() as conn:
            ids = [
                (await users.create(conn, email=None, balance=1000 * HOLD))["id"] for _ in range(3)
            ]
        settings = WalletSettings(min_hold=HOLD, flush_interval=0.005, heartbeat_seconds=0.2)
        first, second = Wallets(engine, settings), Wallets(engine, settings)
        await first.start()
        await second.start()
        try:
            # Each instance sees the users in another order, as different callers would.
            await asyncio.gather(instance(first, ids), instance(second, ids[::-1]))
        finally:
            await first.stop()
            await second.stop()
        async with engine.connect() as conn:
            balance = (
                await conn.execute(
                    select(func.sum(tables.users.c.balance)).where(tables.users.c.id.in_(ids))
                )
            ).scalar_one()
            spent = (
                await conn.execute(
                    select(func.sum(tables.usage_logs.c.cost)).where(
                        tables.usage_logs.c.user_id.in_(ids)
                    )
                )
            ).scalar_one()
            held = (
                await conn.execute(
                    select(func.count()).where(tables.balance_holds.c.user_id.in_(ids))
                )
            ).scalar_one()
        await engine.dispose()
        return int(balance), int(spent), int(held)

    balance, spent, held = asyncio.run(scenario())
    deadlocks = [r for r in caplog.records if r.exc_info or "deadlock" in r.getMessage().lower()]
    assert not failures, failures[:3]
    assert not deadlocks, [r.getMessage() for r in deadlocks[:3]]
    assert spent == 2 * CALLS * COST
    assert held == 0
    assert balance == 3 * 1000 * HOLD - spent
