"""Holds sized from the recent spend rate: the rate on a fake clock, the size's bounds, and
the wallet taking holds of that size from a real database (SQLite and PostgreSQL) with the
books exact."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.spend_rate import SpendRate, hold_size
from airelay.billing.wallets import InsufficientFunds, Wallets, WalletSettings
from airelay.store import tables, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade

from .test_wallets import balance_of, row


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_the_spend_of_about_the_last_window() -> None:
    rate = SpendRate(window=10.0, started=0.0)
    for second in range(10):
        rate.add(500, float(second))  # 500 units a second for 10 s
    assert rate.per_second(9.99) == pytest.approx(500, rel=0.01)
    # Half-way through the next window, the previous one counts for half.
    for second in range(10, 15):
        rate.add(100, float(second))
    assert rate.per_second(15.0) == pytest.approx((5000 * 0.5 + 500) / 10)
    # After two quiet windows nothing recent is left.
    assert rate.per_second(36.0) == 0
    rate.add(70, 36.5)
    assert rate.per_second(37.0) == pytest.approx(7 + 0)


def test_a_hold_covers_seconds_of_spend_within_its_bounds() -> None:
    sized = {"min_hold": 1_000, "max_hold": 50_000, "hold_seconds": 20.0}
    assert hold_size(0.0, need=10, **sized) == 1_000  # nothing spent yet: the minimum
    assert hold_size(600.0, need=10, **sized) == 12_000  # 20 s of 600 units/s
    assert hold_size(10_000.0, need=10, **sized) == 50_000  # the maximum
    assert hold_size(10_000.0, need=70_000, **sized) == 70_000  # but what the call lacks


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def spend_for(
    wallets: Wallets, clock: FakeClock, user: str, seconds: int
) -> Coroutine[Any, Any, None]:
    """Ten calls of 50 units every (fake) second, each refill let finish within its second."""

    async def calls() -> None:
        for _ in range(seconds):
            for _ in range(10):
                reservation = await wallets.reserve(user, None, 50)
                wallets.settle(reservation, 50, row(user))
            await asyncio.sleep(0)
            await asyncio.gather(*wallets._refills)
            clock.now += 1.0

    return calls()


@pytest.mark.parametrize("max_hold", [10**9, 4_000])
def test_a_busy_users_hold_is_sized_from_their_spend(migrated: str, max_hold: int) -> None:
    """500 units a (fake) second for 30 s: the holds taken grow to about 20 s of that spend
    (the minimum is 1,000, which a fixed-size hold would have stayed at), up to the maximum;
    a user whose balance is smaller than that gets the balance and not a unit more; every
    hold comes back at stop."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        clock = FakeClock()
        settings = WalletSettings(
            min_hold=1_000, max_hold=max_hold, hold_seconds=20.0, spend_window=10.0
        )
        wallets = Wallets(engine, settings, clock=clock)
        async with engine.begin() as conn:
            busy = (await users.create(conn, email=None, balance=10**7))["id"]
            poor = (await users.create(conn, email=None, balance=5_000))["id"]
        await wallets.start()
        try:
            await spend_for(wallets, clock, busy, 30)
            expected = min(max_hold, 20 * 500)
            assert expected * 0.9 <= wallets._accounts[busy].last_take <= expected * 1.1
            await spend_for(wallets, clock, poor, 10)  # the whole balance, in holds
            assert await balance_of(engine, poor) == 0
            with pytest.raises(InsufficientFunds):
                await wallets.reserve(poor, None, 50)
            await wallets.flush()
        finally:
            await wallets.stop()
        assert await balance_of(engine, busy) == 10**7 - 30 * 10 * 50
        assert await balance_of(engine, poor) == 0
        # Every hold back (an emptied one may stay as a row of 0).
        assert sum((await held(engine, busy)).values()) == 0
        assert sum((await held(engine, poor)).values()) == 0
        await engine.dispose()

    asyncio.run(scenario())


async def held(engine: AsyncEngine, user_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(tables.balance_holds.c.instance_id, tables.balance_holds.c.amount).where(
                tables.balance_holds.c.user_id == user_id
            )
        )
        return {instance: int(amount) for instance, amount in rows}
