"""Driver-level statements on SQLite and PostgreSQL: they join the caller's transaction (a
rollback undoes them, a commit keeps them) and return what RETURNING gives."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import bindparam, select

from airelay.ids import new_id
from airelay.store import driver, users
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.tables import users as users_table

ADD_MANY = (
    users_table.update()
    .where(users_table.c.id == bindparam("b_id"))
    .values(balance=users_table.c.balance + bindparam("b_amount"))
)
ADD = ADD_MANY.returning(users_table.c.balance)


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


class Rollback(Exception):
    pass


def test_driver_statements_join_the_callers_transaction(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        try:
            async with engine.begin() as conn:
                a = (await users.create(conn, email=None, balance=100))["id"]
                b = (await users.create(conn, email=None, balance=100))["id"]
            with pytest.raises(Rollback):
                async with engine.begin() as conn:
                    assert await driver.fetch(conn, ADD, {"b_id": a, "b_amount": 5}) == [(105,)]
                    await driver.execute_many(
                        conn, ADD_MANY, [{"b_id": a, "b_amount": 1}, {"b_id": b, "b_amount": 2}]
                    )
                    raise Rollback
            async with engine.begin() as conn:
                await driver.execute_many(
                    conn, ADD_MANY, [{"b_id": a, "b_amount": 1}, {"b_id": b, "b_amount": 2}]
                )
                assert await driver.fetch(conn, ADD, {"b_id": new_id("usr"), "b_amount": 1}) == []
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(users_table.c.id, users_table.c.balance).where(
                        users_table.c.id.in_([a, b])
                    )
                )
                assert {row.id: row.balance for row in rows} == {a: 101, b: 102}
        finally:
            await engine.dispose()

    asyncio.run(scenario())
