"""The money of a video task: per-second prices by resolution, the group multiplier's one
rounding, the seconds a finished video is billed, golden costs; and ``Wallets.withdraw``,
which takes a task's reservation out of the balance, helped by the instance's hold."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.billing import video_money
from airelay.billing.wallets import InsufficientFunds, Wallets, WalletSettings
from airelay.money import usd_to_units
from airelay.pricing import Price
from airelay.store import tables, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade


def test_a_single_price_applies_to_every_resolution() -> None:
    price = Price(per_video_second=500)
    assert video_money.unit_price(price, None) == 500
    assert video_money.unit_price(price, "1080p") == 500


def test_prices_by_resolution_or_size_with_a_default() -> None:
    price = Price(per_video_second={"720p": 100, "1080p": 250, "1280x720": 120, "default": 90})
    assert video_money.unit_price(price, "720p") == 100
    assert video_money.unit_price(price, "1080P") == 250  # case does not matter
    assert video_money.unit_price(price, "1280*720") == 120  # DashScope writes sizes so
    assert video_money.unit_price(price, "480p") == 90
    assert video_money.unit_price(price, None) == 90


def test_a_resolution_without_a_price_nor_a_default_is_refused() -> None:
    price = Price(per_video_second={"720p": 100})
    with pytest.raises(video_money.NoPrice, match="1080p"):
        video_money.unit_price(price, "1080p")


@pytest.mark.parametrize(
    ("seconds", "usd_per_second", "multiplier", "cost_usd"),
    [
        (5, "0.05", None, "0.25"),
        (8, "0.1", None, "0.8"),
        (10, "0.224", None, "2.24"),  # Kling pro, $0.224/s
        (5, "0.05", "3/2", "0.375"),
        (3, "0.0000000001", "1/3", "0.0000000001"),  # one unit: the third rounds up once
        (7, "0.0000000001", "2/3", "0.0000000005"),  # 14/3 units -> 5
    ],
)
def test_golden_costs(
    seconds: int, usd_per_second: str, multiplier: str | None, cost_usd: str
) -> None:
    unit = usd_to_units(usd_per_second)
    assert video_money.cost(seconds, unit, multiplier) == usd_to_units(cost_usd)


def test_the_multiplier_is_kept_as_text_only_when_it_changes_the_price() -> None:
    assert video_money.multiplier_text(None) is None
    assert video_money.multiplier_text(Fraction(1)) is None
    assert video_money.multiplier_text(Fraction(3, 2)) == "3/2"


@pytest.mark.parametrize(
    ("requested", "reported", "billed"),
    [
        (5, None, 5),  # no word from the upstream: what was asked
        (5, 5.042, 5),  # Kling's "5.042"
        (5, 4.4, 4),  # shorter: less
        (5, 4.5, 5),
        (5, 9.0, 5),  # longer than reserved: never more than the reservation
        (5, 0.2, 1),
        (5, 0.0, 5),
    ],
)
def test_billed_seconds(requested: int, reported: float | None, billed: int) -> None:
    assert video_money.billed_seconds(requested, reported) == billed


async def _money(conn: AsyncConnection, user: str) -> tuple[int, int]:
    balance = (
        await conn.execute(select(tables.users.c.balance).where(tables.users.c.id == user))
    ).scalar_one()
    held = sum(
        (
            await conn.execute(
                select(tables.balance_holds.c.amount).where(tables.balance_holds.c.user_id == user)
            )
        ).scalars()
    )
    return int(balance), int(held)


def test_withdraw_takes_from_the_instances_hold_when_the_balance_is_short(
    database_url: str,
) -> None:
    upgrade(database_url)

    async def scenario() -> None:
        engine = create_engine(database_url)
        wallets = Wallets(engine, WalletSettings(min_hold=10_000))
        async with engine.begin() as conn:
            user = (await users.create(conn, email=None, balance=1_000))["id"]
        written: list[Any] = []

        async def write(conn: AsyncConnection) -> None:
            written.append(conn)

        try:
            # A call takes a hold (half the balance: a small balance is shared between
            # instances), then ends unused.
            reservation = await wallets.reserve(user, None, 10)
            wallets.release(reservation)
            async with engine.connect() as conn:
                assert await _money(conn, user) == (500, 500)
            await wallets.withdraw(user, 600, write)  # the hold's 500, then 100 of the balance
            async with engine.connect() as conn:
                assert await _money(conn, user) == (400, 0)
            # What is left still serves calls; more than that is refused.
            with pytest.raises(InsufficientFunds):
                await wallets.withdraw(user, 401, write)
            assert len(written) == 1  # the refused one wrote nothing
            reservation = await wallets.reserve(user, None, 400)
            wallets.release(reservation)
        finally:
            await wallets.stop()
        async with engine.connect() as conn:
            assert await _money(conn, user) == (400, 0)  # the hold came back whole
        await engine.dispose()

    asyncio.run(scenario())
