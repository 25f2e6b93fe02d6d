"""Key quotas with reset windows, on the wallet itself against SQLite and PostgreSQL: two
wallets (two instances) on one database never let a burst spend more than the quota of the
window, a new window starts from nothing, and a call counts for the window it began in."""

from __future__ import annotations

import asyncio
import calendar
import random
import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.key_quotas import QuotaExhausted
from airelay.billing.wallets import Wallets, WalletSettings
from airelay.ids import new_id
from airelay.store import tables, users
from airelay.store import tokens as token_store
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.quota_window import window_end, window_start

# Wed 2026-12-02 10:00 UTC
NOON = calendar.timegm((2026, 12, 2, 10, 0, 0))
DAY = 86400
WORST = 100
QUOTA = 1_050  # room for ten worst cases, not eleven


def utc(*parts: int) -> int:
    return calendar.timegm((*parts, 0, 0, 0)[:6])


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("daily", utc(2026, 12, 2), utc(2026, 12, 3)),
        ("weekly", utc(2026, 11, 30), utc(2026, 12, 7)),  # Monday to Monday
        ("monthly", utc(2026, 12, 1), utc(2027, 1, 1)),  # across the year
    ],
)
def test_windows_are_utc_days_weeks_and_months(period: str, start: int, end: int) -> None:
    assert window_start(period, NOON) == start
    assert window_start(period, start) == start
    assert window_start(period, end - 1) == start
    assert window_end(period, start) == end
    assert window_start(period, end) == end


def test_a_quota_without_a_period_has_one_window() -> None:
    assert window_start(None, NOON) == 0
    assert window_end(None, 0) is None


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


async def new_key(engine: AsyncEngine, quota: int, period: str | None) -> tuple[str, str]:
    async with engine.begin() as conn:
        user = (await users.create(conn, email=None, balance=10**9))["id"]
        token = await token_store.create_for_user(
            conn,
            user,
            {
                "name": "k",
                "key_hash": new_id("hash"),
                "key_hint": "sk-...",
                "permissions": ["chat"],
                "quota": quota,
                "quota_period": period,
            },
        )
    return user, token["id"]


async def key_row(engine: AsyncEngine, token_id: str) -> Any:
    async with engine.connect() as conn:
        query = select(tables.tokens).where(tables.tokens.c.id == token_id)
        return (await conn.execute(query)).one()


async def held(engine: AsyncEngine, token_id: str) -> int:
    async with engine.connect() as conn:
        query = select(tables.quota_holds.c.amount).where(tables.quota_holds.c.token_id == token_id)
        return sum((await conn.execute(query)).scalars())


def usage_row(user_id: str, token_id: str) -> dict[str, Any]:
    return {
        "id": new_id("log"),
        "user_id": user_id,
        "token_id": token_id,
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
        "created_at": NOON,
        "cost": 0,
    }


async def burst(
    pair: list[Wallets], user: str, token: str, period: str | None, count: int = 200
) -> int:
    """``count`` calls at once spread over ``pair``, each charged its whole worst case after
    a random pause; returns how many were let through."""

    async def call(i: int) -> bool:
        wallets = pair[i % len(pair)]
        try:
            reservation = await wallets.reserve(user, token, WORST, QUOTA, period)
        except QuotaExhausted:
            return False
        await asyncio.sleep(random.random() / 100)
        wallets.settle(reservation, WORST, usage_row(user, token))
        return True

    results = await asyncio.gather(*(call(i) for i in range(count)))
    for wallets in pair:
        await wallets.flush()
    return sum(results)


@pytest.mark.parametrize("period", [None, "daily"])
def test_two_instances_never_overspend_a_quota(migrated: str, period: str | None) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        wall = Wall(NOON)
        settings = WalletSettings(min_hold=10**6, flush_interval=0.01)
        pair = [Wallets(engine, settings, wall=wall), Wallets(engine, settings, wall=wall)]
        user, token = await new_key(engine, QUOTA, period)
        for wallets in pair:
            await wallets.start()
        try:
            let_through = await burst(pair, user, token, period)
            row = await key_row(engine, token)
            assert let_through * WORST == row.used <= QUOTA
            # Calls one at a time on either instance use up the rest, to the last worst case
            # that fits: the instances' parts of the quota are never promised twice.
            for i in range(20):
                try:
                    reservation = await pair[i % 2].reserve(user, token, WORST, QUOTA, period)
                except QuotaExhausted:
                    continue
                pair[i % 2].settle(reservation, WORST, usage_row(user, token))
            for wallets in pair:
                await wallets.flush()
            row = await key_row(engine, token)
            assert row.used <= QUOTA
            if period is not None:
                assert row.period_used == row.used
                assert row.period_start == window_start(period, NOON)
        finally:
            for wallets in pair:
                await wallets.stop()
        assert await held(engine, token) == 0  # every part went back at shutdown
        await engine.dispose()

    asyncio.run(scenario())


def test_a_new_window_starts_from_nothing(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        wall = Wall(NOON)
        wallets = Wallets(engine, WalletSettings(min_hold=10**6), wall=wall)
        user, token = await new_key(engine, QUOTA, "daily")
        await wallets.start()
        try:
            assert await burst([wallets], user, token, "daily") == QUOTA // WORST
            with pytest.raises(QuotaExhausted):
                await wallets.reserve(user, token, WORST, QUOTA, "daily")
            # A call begun just before midnight is charged just after: it counts for the
            # day it began in, and the new day still has its whole quota.
            wall.now = window_end("daily", window_start("daily", NOON)) - 1
            late = await wallets.reserve(user, token, 1, QUOTA, "daily")
            wall.now += 2
            assert await burst([wallets], user, token, "daily") == QUOTA // WORST
            wallets.settle(late, 1, usage_row(user, token))
            await wallets.flush()
            row = await key_row(engine, token)
            assert row.used == 2 * (QUOTA // WORST) * WORST + 1
            assert row.period_used == (QUOTA // WORST) * WORST
            assert row.period_start == window_start("daily", wall.now)
        finally:
            await wallets.stop()
        await engine.dispose()

    asyncio.run(scenario())


def test_a_lower_quota_binds_the_next_take(migrated: str) -> None:
    """The quota is read from the database when a part is taken: an operator who lowers it
    is obeyed from the next take on, across instances."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=10**6), wall=Wall(NOON))
        user, token = await new_key(engine, 10 * QUOTA, "monthly")
        await wallets.start()
        try:
            async with engine.begin() as conn:
                await token_store.update(conn, token, {"quota": WORST - 1})
            with pytest.raises(QuotaExhausted):
                await wallets.reserve(user, token, WORST, 10 * QUOTA, "monthly")
        finally:
            await wallets.stop()
        await engine.dispose()

    asyncio.run(scenario())


def test_the_flush_lag_is_the_age_of_the_oldest_unwritten_row(migrated: str) -> None:
    """``airelay_usage_flush_lag_seconds``: how long the oldest settled call has waited
    to be written (it grows while the database is away), 0 once written."""
    from prometheus_client import REGISTRY

    def lag() -> float:
        return REGISTRY.get_sample_value("airelay_usage_flush_lag_seconds") or 0.0

    async def scenario() -> None:
        engine = create_engine(migrated)
        wallets = Wallets(engine, WalletSettings(min_hold=10**6, flush_interval=3600))
        user, token = await new_key(engine, QUOTA, None)
        try:
            reservation = await wallets.reserve(user, token, WORST, QUOTA, None)
            old = usage_row(user, token)
            old["created_at"] = int(time.time()) - 30
            wallets.settle(reservation, WORST, old)
            wallets._report_lag()  # what the background loop does on each tick
            assert lag() >= 30
            await wallets.flush()
            assert lag() == 0
        finally:
            await wallets.stop()
        await engine.dispose()

    asyncio.run(scenario())


def test_a_crashed_instance_part_of_a_quota_is_freed(migrated: str) -> None:
    """An instance that dies holding part of a key's quota: once its heartbeat is stale,
    the next instance to start (or sweep) frees that part for the others."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        settings = WalletSettings(min_hold=10**6, stale_after_seconds=60)
        crashed = Wallets(engine, settings, wall=Wall(NOON))
        user, token = await new_key(engine, QUOTA, "daily")
        await crashed.reserve(user, token, WORST, QUOTA, "daily")  # and never settles
        assert await held(engine, token) == QUOTA // 2  # half of what was free
        async with engine.begin() as conn:
            await conn.execute(
                tables.quota_holds.update()
                .where(tables.quota_holds.c.token_id == token)
                .values(heartbeat_at=tables.quota_holds.c.heartbeat_at - 61)
            )
        survivor = Wallets(engine, settings, wall=Wall(NOON))
        await survivor.start()
        try:
            assert await held(engine, token) == 0
            assert await burst([survivor], user, token, "daily") == QUOTA // WORST
        finally:
            await survivor.stop()
        await engine.dispose()

    asyncio.run(scenario())
