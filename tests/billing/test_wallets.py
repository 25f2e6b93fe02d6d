"""The wallet on its own, against SQLite and PostgreSQL: a busy user's next hold is taken in
the background, before the calls need it, and the books stay exact."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.wallets import InsufficientFunds, Reservation, Wallets, WalletSettings
from airelay.ids import new_id
from airelay.store import tables, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade

HOLD = 1_000


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def at_once(coro: Coroutine[Any, Any, Reservation]) -> Reservation:
    """Run a reservation that must not wait for anything (no database, no lock)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the reservation waited")


def test_the_next_hold_is_taken_before_calls_need_it(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=HOLD, flush_interval=0.05))
        async with engine.begin() as conn:
            user = (await users.create(conn, email=None, balance=10 * HOLD))["id"]
        await wallets.start()
        try:
            first = await wallets.reserve(user, None, 100)  # takes the first hold
            wallets.settle(first, 100, row(user))
            # Calls keep coming: none of them waits, though together they spend far more
            # than one hold, because each refill starts while a quarter is still free.
            for _ in range(40):
                reservation = at_once(wallets.reserve(user, None, 100))
                wallets.settle(reservation, 100, row(user))
                await refills_done(wallets)  # the refill ran meanwhile, however slow the disk
            await wallets.flush()
        finally:
            await wallets.stop()
        assert await balance_of(engine, user) == 10 * HOLD - 41 * 100  # holds all came back
        async with engine.connect() as conn:
            logged = (
                await conn.execute(
                    select(tables.usage_logs.c.cost).where(tables.usage_logs.c.user_id == user)
                )
            ).scalars()
            held = (
                await conn.execute(
                    select(tables.balance_holds.c.amount).where(
                        tables.balance_holds.c.user_id == user
                    )
                )
            ).scalars()
            assert sum(logged) == 41 * 100
            assert sum(held) == 0
        await engine.dispose()

    asyncio.run(scenario())


def test_an_empty_balance_stops_refilling_and_refuses(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=HOLD, flush_interval=0.05))
        async with engine.begin() as conn:
            user = (await users.create(conn, email=None, balance=HOLD + 300))["id"]
        await wallets.start()
        try:
            spent = 0
            with pytest.raises(InsufficientFunds):
                for _ in range(100):
                    reservation = await wallets.reserve(user, None, 100)
                    wallets.settle(reservation, 100, row(user))
                    spent += 100
                    await asyncio.sleep(0.005)
            assert spent == HOLD + 300  # all of it, and not a unit more
        finally:
            await wallets.stop()
        assert await balance_of(engine, user) == 0
        await engine.dispose()

    asyncio.run(scenario())


def test_stopping_mid_flush_or_mid_hold_writes_everything(migrated: str) -> None:
    """Shutdown and clients that leave arrive at any moment, also inside a transaction: the
    wallet's writes are never cut in half (on SQLite such a cut leaves the write lock behind,
    and the last flush at shutdown failed with "database is locked" after 30 s)."""

    async def once(delay: float) -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=HOLD, flush_interval=0.0))
        async with engine.begin() as conn:
            user = (await users.create(conn, email=None, balance=100 * HOLD))["id"]
        await wallets.start()
        try:
            for _ in range(20):
                reservation = await wallets.reserve(user, None, 100)
                wallets.settle(reservation, 100, row(user))
            # A call whose client leaves while its hold is being taken, and a shutdown
            # while the flush of those 20 rows is under way.
            left = asyncio.ensure_future(wallets.reserve(user, None, 50 * HOLD))
            await asyncio.sleep(delay)
            left.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                # On a slow machine the reservation may be through before the client
                # leaves: that call then ends as any other, without usage.
                wallets.release(await left)
        finally:
            await asyncio.wait_for(wallets.stop(), 20)  # well within SQLite's 30 s lock wait
        assert await balance_of(engine, user) == 100 * HOLD - 20 * 100  # every hold returned
        async with engine.connect() as conn:
            logged = (
                await conn.execute(
                    select(tables.usage_logs.c.cost).where(tables.usage_logs.c.user_id == user)
                )
            ).scalars()
            assert sum(logged) == 20 * 100
        await engine.dispose()

    async def scenario() -> None:
        for step in range(30):
            await once(step * 0.0004)

    asyncio.run(scenario())


async def refills_done(wallets: Wallets) -> None:
    """Let a hold taken ahead finish: how long the database takes is not what these tests
    check, but that the reservations never wait for it."""
    await asyncio.sleep(0)
    await asyncio.gather(*wallets._refills)


async def balance_of(engine: AsyncEngine, user_id: str) -> int:
    async with engine.connect() as conn:
        query = select(tables.users.c.balance).where(tables.users.c.id == user_id)
        return int((await conn.execute(query)).scalar_one())


def row(user_id: str) -> dict[str, Any]:
    return {
        "id": new_id("log"),
        "user_id": user_id,
        "token_id": None,
        "model": "m",
        "endpoint": "/v1/chat/completions",
        "channel_id": None,
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "affinity": 0,
        "images": 0,
        "characters": 0,
        "audio_seconds": 0,
        "latency_ms": 1,
        "status": 200,
        "request_id": "req",
        "created_at": 1_700_000_000,
        "cost": 0,
    }


def test_calls_reserving_while_a_hold_is_taken_never_overcommit_it(migrated: str) -> None:
    """While one call awaits a take, another reserves from the same free money: the first
    must look again after its take (and take more), or the hold is promised twice and a
    call is later charged less than it cost."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=100, max_hold=100, flush_interval=60))
        async with engine.begin() as conn:
            user = (await users.create(conn, email=None, balance=1_000))["id"]
        await wallets.start()
        try:
            first = await wallets.reserve(user, None, 100)  # a hold of 400: 300 free
            waiting = asyncio.ensure_future(wallets.reserve(user, None, 350))
            await asyncio.sleep(0)  # it needs more than is free: it awaits a take
            meanwhile = await wallets.reserve(user, None, 300)  # served from the free 300
            last = await waiting
            account = wallets._accounts[user]
            assert account.held - account.reserved - account.pending >= 0
            charged = [
                wallets.settle(reservation, reservation.amount, row(user))
                for reservation in (first, meanwhile, last)
            ]
            assert charged == [100, 300, 350]  # each call charged what it cost
        finally:
            await wallets.stop()
        assert await balance_of(engine, user) == 1_000 - 750
        await engine.dispose()

    asyncio.run(scenario())
