"""The retention task deletes finished video tasks once they are older than the retention
of stored answers, on SQLite and PostgreSQL: open tasks are never deleted (their money is
still reserved) whatever their age, recent finished ones stay, and two instances running
the task at once delete each old row once between them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from airelay.billing.retention import DAY_SECONDS, UsageRetention
from airelay.ids import new_id
from airelay.store import video_tasks
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.tables import video_tasks as video_table

NOW = 1_000_000_000  # long past: no task of another test is old enough to go
KEEP_DAYS = 30


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def task(user_id: str, created_days_ago: int, settled_days_ago: int | None) -> dict[str, Any]:
    created = NOW - created_days_ago * DAY_SECONDS
    settled = None if settled_days_ago is None else NOW - settled_days_ago * DAY_SECONDS
    return {
        "id": new_id("video"),
        "user_id": user_id,
        "model": "seedance",
        "status": "queued" if settled is None else "succeeded",
        "seconds": 5,
        "prompt": "a cat",
        "unit_price": 10,
        "reserved": 50,
        "cost": None if settled is None else 50,
        "settled_at": settled,
        "request_id": "req_1",
        "created_at": created,
        "updated_at": settled or created,
    }


def test_finished_tasks_go_after_the_retention_open_ones_never(migrated: str) -> None:
    async def scenario() -> None:
        engines = [create_engine(migrated), create_engine(migrated)]
        user = new_id("usr")
        old_done = [task(user, 60, 40 + i) for i in range(5)]  # settled 40+ days ago
        keep = [
            task(user, 90, None),  # open for 90 days: still reserved, never deleted
            task(user, 35, 29),  # finished within the retention
            task(user, 2, 1),
        ]
        try:
            async with engines[0].begin() as conn:
                for row in old_done + keep:
                    await video_tasks.insert(conn, row)
            jobs = [
                UsageRetention(engine, 0, video_days=KEEP_DAYS, batch=2).run_once(NOW)
                for engine in engines
            ]
            deleted = await asyncio.gather(*jobs)
            async with engines[0].connect() as conn:
                left = set(
                    (
                        await conn.execute(
                            select(video_table.c.id).where(video_table.c.user_id == user)
                        )
                    ).scalars()
                )
            assert left == {row["id"] for row in keep}
            assert sum(deleted) == len(old_done)  # each once, between the two instances
            assert await UsageRetention(engines[1], 0, video_days=KEEP_DAYS).run_once(NOW) == 0
        finally:
            for engine in engines:
                await engine.dispose()

    asyncio.run(scenario())


def test_no_video_retention_keeps_every_task(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        user = new_id("usr")
        row = task(user, 400, 399)
        try:
            async with engine.begin() as conn:
                await video_tasks.insert(conn, row)
            assert await UsageRetention(engine, 0, video_days=0).run_once(NOW) == 0
            async with engine.connect() as conn:
                assert await video_tasks.get(conn, row["id"]) is not None
        finally:
            await engine.dispose()

    asyncio.run(scenario())
