"""Usage batch ids on SQLite and PostgreSQL: a batch id is claimed once, and old ids are
pruned by age."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from airelay.ids import new_id
from airelay.store import batches
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.tables import billing_batches


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def test_a_batch_id_is_claimed_once_and_pruned_by_age(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        old, new = new_id("bat"), new_id("bat")
        try:
            async with engine.begin() as conn:
                assert await batches.claim(conn, old, "inst_a")
                assert await batches.claim(conn, new, "inst_a")
            async with engine.begin() as conn:
                assert not await batches.claim(conn, old, "inst_a")  # written before
                await conn.execute(
                    update(billing_batches)
                    .where(billing_batches.c.id == old)
                    .values(created_at=billing_batches.c.created_at - 7200)
                )
            async with engine.begin() as conn:
                cutoff = await conn.execute(select(func.max(billing_batches.c.created_at)))
                assert await batches.prune(conn, int(cutoff.scalar_one()) - 3600) == 1
                left = (await conn.execute(select(billing_batches.c.id))).scalars().all()
            assert new in left and old not in left
        finally:
            await engine.dispose()

    asyncio.run(scenario())
