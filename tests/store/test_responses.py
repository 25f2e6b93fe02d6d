"""Stored Responses API answers on SQLite and PostgreSQL: written and read back exactly,
scoped to their user, invisible once expired and then pruned, chains of continuations read
in one query; and the writer that takes them off the request's path: readable while
pending, written in one batch, kept through an outage, a refused row not holding back the
others, a delete that wins over a pending write."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from airelay.ids import new_id
from airelay.store import responses
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.response_writer import ResponseWriter
from airelay.store.responses import BrokenChain, StoredResponse
from airelay.store.tables import responses as responses_table

NOW = 1_800_000_000
DAY = 86400


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def stored(
    user_id: str,
    *,
    previous: str | None = None,
    text: str = "hi",
    expires_at: int = NOW + 30 * DAY,
    **fields: Any,
) -> StoredResponse:
    response_id = new_id("resp")
    body = {
        "id": response_id,
        "object": "response",
        "created_at": NOW,
        "status": "completed",
        "model": "gpt-4o-mini",
        "instructions": "be brief",
        "output": [
            {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "re: " + text, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 2**53 + 1, "output_tokens": 3},
    }
    values: dict[str, Any] = {
        "id": response_id,
        "user_id": user_id,
        "token_id": "tok_1",
        "model": "gpt-4o-mini",
        "previous_response_id": previous,
        "input_items": [{"type": "message", "role": "user", "content": text}],
        "body": body,
        "created_at": NOW,
        "expires_at": expires_at,
    }
    values.update(fields)
    return StoredResponse(**values)


def run(migrated: str, scenario: Any) -> Any:
    async def wrapped() -> Any:
        engine = create_engine(migrated)
        try:
            return await scenario(engine)
        finally:
            await engine.dispose()

    return asyncio.run(wrapped())


def test_a_response_reads_back_exactly_and_only_by_its_user(migrated: str) -> None:
    user, other = new_id("usr"), new_id("usr")
    # Text a database may mangle: non-ASCII, a NUL, a quote; a number past a double's range.
    odd = stored(user, text="naïve 日本語 \x00 ' \" end")

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [odd])
        async with engine.connect() as conn:
            assert await responses.get(conn, user, odd.id, NOW) == odd
            assert await responses.get(conn, other, odd.id, NOW) is None
            assert await responses.get(conn, user, "resp_unknown", NOW) is None
            assert await responses.get(conn, user, odd.id, odd.expires_at) is None  # expired

    run(migrated, scenario)


def test_writing_a_batch_again_keeps_the_first_write(migrated: str) -> None:
    """A flush whose COMMIT went through but whose reply was lost is retried as it is."""
    user = new_id("usr")
    first = stored(user, text="first")
    again = dataclasses.replace(first, model="other")

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [first])
        async with engine.begin() as conn:
            await responses.save(conn, [again, stored(user)])
        async with engine.connect() as conn:
            got = await responses.get(conn, user, first.id, NOW)
            assert got is not None and got.model == "gpt-4o-mini"

    run(migrated, scenario)


def test_delete_is_scoped_to_the_user(migrated: str) -> None:
    user, other = new_id("usr"), new_id("usr")
    mine = stored(user)

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [mine])
            assert await responses.delete(conn, other, mine.id, NOW) is False
            assert await responses.get(conn, user, mine.id, NOW) == mine
            assert await responses.delete(conn, user, mine.id, NOW) is True
            assert await responses.delete(conn, user, mine.id, NOW) is False
            assert await responses.get(conn, user, mine.id, NOW) is None

    run(migrated, scenario)


def test_a_chain_is_read_newest_first_in_one_query(migrated: str) -> None:
    user, other = new_id("usr"), new_id("usr")
    first = stored(user, text="one")
    second = stored(user, previous=first.id, text="two")
    third = stored(user, previous=second.id, text="three")

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [third, first, second])
        async with engine.connect() as conn:
            assert await responses.chain(conn, user, third.id, NOW) == [third, second, first]
            assert await responses.chain(conn, user, first.id, NOW) == [first]
            assert await responses.chain(conn, other, third.id, NOW) == []
        async with engine.begin() as conn:
            await responses.delete(conn, user, second.id, NOW)
        async with engine.connect() as conn:
            with pytest.raises(BrokenChain) as broken:
                await responses.chain(conn, user, third.id, NOW)
        assert broken.value.missing == second.id
        assert broken.value.found == [third]

    run(migrated, scenario)


def test_a_chain_stops_at_another_users_response(migrated: str) -> None:
    """A row naming another user's response as its previous one never reads it."""
    user, other = new_id("usr"), new_id("usr")
    theirs = stored(other, text="secret")
    mine = stored(user, previous=theirs.id)

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [theirs, mine])
        async with engine.connect() as conn:
            with pytest.raises(BrokenChain) as broken:
                await responses.chain(conn, user, mine.id, NOW)
        assert broken.value.missing == theirs.id and broken.value.found == [mine]

    run(migrated, scenario)


def test_input_items_are_paged_in_openai_list_shape(migrated: str) -> None:
    user = new_id("usr")
    items = [{"type": "message", "role": "user", "content": f"m{i}"} for i in range(5)]
    many = stored(user, input_items=items)

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, [many])
        async with engine.connect() as conn:

            async def listed(**query: Any) -> Any:
                query.setdefault("after", None)
                query.setdefault("order", "desc")
                return await responses.input_items(conn, user, many.id, now=NOW, **query)

            first = await listed(limit=2)
            assert [d["content"][0]["text"] for d in first["data"]] == ["m4", "m3"]
            assert first["has_more"] is True and first["object"] == "list"
            rest = await listed(limit=10, after=first["last_id"])
            assert [d["content"][0]["text"] for d in rest["data"]] == ["m2", "m1", "m0"]
            assert rest["has_more"] is False
            ascending = await listed(limit=1, order="asc")
            assert ascending["data"][0]["content"] == [{"type": "input_text", "text": "m0"}]
            assert (
                await responses.input_items(
                    conn, new_id("usr"), many.id, after=None, limit=20, order="desc", now=NOW
                )
                is None
            )

    run(migrated, scenario)


def test_prune_deletes_what_has_expired_in_batches(migrated: str) -> None:
    user = new_id("usr")
    expired = [stored(user, expires_at=NOW - i) for i in range(7)]
    live = [stored(user, expires_at=NOW + 1), stored(user)]

    async def scenario(engine: Any) -> None:
        async with engine.begin() as conn:
            await responses.save(conn, expired + live)
        async with engine.connect() as conn:
            deleted = await responses.prune(conn, NOW, batch=3)
        assert deleted >= len(expired)  # other tests' expired rows of this database too
        async with engine.connect() as conn:
            left = select(func.count()).where(responses_table.c.expires_at <= NOW)
            assert (await conn.execute(left)).scalar_one() == 0
            for row in live:
                assert await responses.get(conn, user, row.id, NOW) == row
            mine = select(func.count()).where(responses_table.c.user_id == user)
            assert (await conn.execute(mine)).scalar_one() == len(live)
            assert await responses.prune(conn, NOW) == 0

    run(migrated, scenario)


# -- the writer ------------------------------------------------------------------------


async def written(engine: Any, user_id: str, response_id: str) -> StoredResponse | None:
    async with engine.connect() as conn:
        return await responses.get(conn, user_id, response_id, NOW)


def test_the_writer_answers_reads_before_its_flush(migrated: str) -> None:
    user, other = new_id("usr"), new_id("usr")
    first = stored(user, text="one")
    second = stored(user, previous=first.id, text="two")

    async def scenario(engine: Any) -> None:
        writer = ResponseWriter(engine)  # not started: nothing is written until flush()
        writer.add(first)
        writer.add(second)
        assert await written(engine, user, first.id) is None
        assert await writer.find(user, second.id, NOW) == second
        assert await writer.find(other, second.id, NOW) is None
        assert await writer.find(user, second.id, second.expires_at) is None
        assert await writer.chain(user, second.id, NOW) == [second, first]
        await writer.flush()
        assert await written(engine, user, first.id) == first
        assert writer.pending(user, first.id, NOW) is None
        # A continuation of a written chain from a pending response reads both.
        third = stored(user, previous=second.id, text="three")
        writer.add(third)
        assert await writer.chain(user, third.id, NOW) == [third, second, first]
        assert await writer.chain(other, third.id, NOW) == []

    run(migrated, scenario)


def test_the_running_writer_flushes_on_its_own_and_at_stop(migrated: str) -> None:
    user = new_id("usr")

    async def scenario(engine: Any) -> None:
        writer = ResponseWriter(engine, flush_interval=0.01)
        await writer.start()
        try:
            soon = stored(user)
            writer.add(soon)
            for _ in range(200):
                if await written(engine, user, soon.id) is not None:
                    break
                await asyncio.sleep(0.02)
            assert await written(engine, user, soon.id) == soon
            last = stored(user)
            writer.add(last)
        finally:
            await writer.stop()
        assert await written(engine, user, last.id) == last

    run(migrated, scenario)


def test_a_delete_wins_over_a_pending_write(migrated: str) -> None:
    user, other = new_id("usr"), new_id("usr")
    gone, kept = stored(user), stored(user)

    async def scenario(engine: Any) -> None:
        writer = ResponseWriter(engine)
        writer.add(gone)
        writer.add(kept)
        assert await writer.delete(other, gone.id, NOW) is False
        assert await writer.delete(user, gone.id, NOW) is True
        assert await writer.delete(user, gone.id, NOW) is False
        await writer.flush()
        assert await written(engine, user, gone.id) is None
        assert await writer.delete(user, kept.id, NOW) is True  # written: deleted there
        assert await written(engine, user, kept.id) is None

    run(migrated, scenario)


def test_a_row_the_database_refuses_does_not_hold_back_the_batch(migrated: str) -> None:
    user = new_id("usr")
    good, later = stored(user), stored(user)
    refused = dataclasses.replace(stored(user), user_id=None)  # NOT NULL: refused by both

    async def scenario(engine: Any) -> None:
        writer = ResponseWriter(engine)
        for row in (good, refused, later):
            writer.add(row)
        await writer.flush()
        assert await written(engine, user, good.id) == good
        assert await written(engine, user, later.id) == later
        assert writer.pending(user, good.id, NOW) is None
        await writer.flush()  # nothing left to retry

    run(migrated, scenario)


def test_an_outage_keeps_the_batch_pending_and_readable() -> None:
    async def scenario() -> None:
        # Nothing listens on port 1: every connection attempt fails as an outage.
        engine = create_engine("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)
        try:
            writer = ResponseWriter(engine)
            user = new_id("usr")
            row = stored(user)
            writer.add(row)
            with pytest.raises(OSError):
                await writer.flush()
            assert await writer.find(user, row.id, NOW) == row
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_the_pending_batch_is_bounded() -> None:
    async def scenario() -> None:
        engine = create_engine("sqlite:///:memory:")
        writer = ResponseWriter(engine, max_pending=3)
        user = new_id("usr")
        rows = [stored(user) for _ in range(5)]
        for row in rows:
            writer.add(row)
        assert [writer.pending(user, r.id, NOW) is not None for r in rows] == [
            False,
            False,
            True,
            True,
            True,
        ]
        await engine.dispose()

    asyncio.run(scenario())
