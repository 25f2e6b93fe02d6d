"""Usage rows on SQLite and PostgreSQL: written a chunk of rows per statement with one SQL
text whatever the chunk's length (not one driver step per row, not one cached statement per
length), every value read back exactly, the daily rollups summed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.ids import new_id
from airelay.store import usage, usage_queries
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.tables import usage_daily, usage_logs

DAY = 1_700_000_000 - 1_700_000_000 % 86400


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


def usage_row(user_id: str, i: int) -> dict[str, Any]:
    return {
        "id": new_id("log"),
        "user_id": user_id,
        "token_id": None if i % 2 else "tok_é",
        "model": "modèle-ü" if i % 3 else "gpt-4o-mini",
        "endpoint": "/v1/chat/completions",
        "channel_id": None if i % 5 == 0 else "ch_1",
        "prompt_tokens": i,
        "completion_tokens": 2 * i,
        "cached_tokens": i % 7,
        "reasoning_tokens": i % 11,
        "cache_write_tokens": i % 13,
        "cache_write_1h_tokens": i % 13 // 2,
        "affinity": i % 2,
        "images": i % 3,
        "characters": i % 17,
        "audio_seconds": i % 19,
        "cost": 2**53 + 1 + i,  # beyond what a JSON number read as a double keeps exactly
        "latency_ms": i % 1000,
        "status": 200 if i % 4 else 502,
        "request_id": f"req_{i}",
        "created_at": DAY + i,
        # Beyond a double too; None (the channel's cost not known) on some rows.
        "upstream_cost": None if i % 3 == 0 else 2**53 + 3 * i,
    }


def statements_on(engine: AsyncEngine) -> list[tuple[str, bool]]:
    """Every (SQL text, executemany) the engine sends to its driver from now on."""
    seen: list[tuple[str, bool]] = []

    def record(*args: Any) -> None:
        _conn, _cursor, sql, _params, _context, many = args
        seen.append((sql, many))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


def test_rows_go_a_chunk_per_statement_with_one_sql_text(migrated: str) -> None:
    async def scenario() -> None:
        engine = create_engine(migrated)
        user = new_id("usr")
        # On SQLite 7 rows go one by one, 73 as 64 + 8 + 1; the last batch spans two chunks.
        sizes = [1, 7, 73, usage.CHUNK_ROWS + 3]
        written: list[dict[str, Any]] = []
        try:
            seen = statements_on(engine)
            for size in sizes:
                rows = [usage_row(user, len(written) + i) for i in range(size)]
                async with engine.begin() as conn:
                    await usage.insert_batch(conn, rows)
                written += rows
            inserts = [
                (sql, many) for sql, many in seen if sql.startswith("INSERT INTO usage_logs")
            ]
            assert not any(many for _, many in inserts)  # no per-row executemany
            if engine.dialect.name == "postgresql":
                assert len(inserts) == 1 + 1 + 1 + 2  # one statement per chunk
                assert len({sql for sql, _ in inserts}) == 1  # whatever the chunk's length
            else:
                # A statement per chunk of a power of eight rows: as many as the size's
                # octal digits add up to.
                assert len(inserts) == 1 + 7 + 3 + (1 + 3)
                texts = {sql for sql, _ in inserts}
                assert len(texts) == 4  # 1, 8, 64 and CHUNK_ROWS rows
                assert texts <= set(usage._SQLITE_INSERTS.values())
            async with engine.connect() as conn:
                stored = [
                    dict(r._mapping)
                    for r in await conn.execute(
                        select(usage_logs).where(usage_logs.c.user_id == user)
                    )
                ]
                daily = (
                    await conn.execute(
                        select(
                            usage_daily.c.requests,
                            usage_daily.c.cost,
                            usage_daily.c.upstream_cost,
                            usage_daily.c.cost_known_requests,
                            usage_daily.c.cost_known_revenue,
                        ).where(usage_daily.c.user_id == user)
                    )
                ).all()
            assert sorted(stored, key=lambda r: r["id"]) == sorted(written, key=lambda r: r["id"])
            assert sum(r.requests for r in daily) == len(written)
            assert sum(r.cost for r in daily) == sum(r["cost"] for r in written)
            # The upstream cost is summed over the rows that know it, counted apart.
            known = [r for r in written if r["upstream_cost"] is not None]
            assert 0 < len(known) < len(written)
            assert sum(r.upstream_cost for r in daily) == sum(r["upstream_cost"] for r in known)
            assert sum(r.cost_known_requests for r in daily) == len(known)
            assert sum(r.cost_known_revenue for r in daily) == sum(r["cost"] for r in known)
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_value_too_long_for_its_column_is_refused_not_cut(migrated: str) -> None:
    """PostgreSQL's cast to varchar(n) cuts silently; the rows are cast to text, so the
    column's own limit refuses the row (SQLite keeps any length, as with every insert)."""
    if not migrated.startswith("postgresql"):
        pytest.skip("SQLite does not enforce string lengths")

    async def scenario() -> None:
        engine = create_engine(migrated)
        row = usage_row(new_id("usr"), 1) | {"request_id": "r" * 41}
        try:
            with pytest.raises(Exception, match="too long"):
                async with engine.begin() as conn:
                    await usage.insert_batch(conn, [row])
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_row_without_a_defaulted_counter_takes_the_default_not_the_batch_down(
    migrated: str,
) -> None:
    """A writer that does not know a newer counter column (audio, images) still gets its
    rows, and every other row of the batch, written; a missing required column is an error."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        user = new_id("usr")
        whole = usage_row(user, 1)
        short = {k: v for k, v in usage_row(user, 2).items() if k not in ("images", "characters")}
        try:
            async with engine.begin() as conn:
                await usage.insert_batch(conn, [whole, short])
            async with engine.connect() as conn:
                got = (
                    await conn.execute(
                        select(usage_logs.c.id, usage_logs.c.images, usage_logs.c.characters)
                        .where(usage_logs.c.user_id == user)
                        .order_by(usage_logs.c.created_at)
                    )
                ).all()
            assert [tuple(r) for r in got] == [
                (whole["id"], whole["images"], whole["characters"]),
                (short["id"], 0, 0),
            ]
            broken = {k: v for k, v in usage_row(user, 3).items() if k != "prompt_tokens"}
            with pytest.raises(KeyError):
                async with engine.begin() as conn:
                    await usage.insert_batch(conn, [broken])
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_the_daily_rollups_count_images_characters_and_seconds(migrated: str) -> None:
    """The media counters are summed per day like the tokens, so that images generated,
    characters read aloud and seconds heard outlive the raw rows (and the summary shows
    them); a row without one (an older writer) counts it as 0."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        user = new_id("usr")
        rows = [usage_row(user, i) for i in range(1, 40)]
        rows.append({k: v for k, v in usage_row(user, 40).items() if k != "images"})
        try:
            for half in (rows[:20], rows[20:]):  # two batches add up on the same rollups
                async with engine.begin() as conn:
                    await usage.insert_batch(conn, half)
            async with engine.connect() as conn:
                summary = await usage_queries.summarize(conn, user_id=user)
            for name in ("images", "characters", "audio_seconds"):
                assert summary.totals[name] == sum(r.get(name, 0) for r in rows), name
                assert summary.totals[name] > 0
            per_model = {
                model: sum(r.get("images", 0) for r in rows if r["model"] == model)
                for model in {r["model"] for r in rows}
            }
            assert {m: c["images"] for m, c in summary.by_model.items()} == per_model
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_an_export_reads_every_row_once_by_keyset_with_rows_sharing_a_second(
    migrated: str,
) -> None:
    """``rows_after`` pages newest first past the last row read: rows in one second are told
    apart by id, a row recorded between pages (newer) shifts nothing, filters hold."""

    async def scenario() -> None:
        engine = create_engine(migrated)
        user_id = new_id("usr")
        rows = [usage_row(user_id, i) | {"created_at": DAY + i // 3} for i in range(1, 11)]
        try:
            async with engine.begin() as conn:
                await usage.insert_batch(conn, rows)
            read: list[dict[str, Any]] = []
            after = None
            while True:
                async with engine.connect() as conn:
                    page = await usage_queries.rows_after(
                        conn, user_id=user_id, after=after, limit=3
                    )
                if not read:  # a call recorded after the export began is not read
                    async with engine.begin() as conn:
                        await usage.insert_batch(
                            conn, [usage_row(user_id, 99) | {"created_at": DAY + 50}]
                        )
                read += page
                if len(page) < 3:
                    break
                after = (page[-1]["created_at"], page[-1]["id"])
            expected = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
            assert [r["id"] for r in read] == [r["id"] for r in expected]
            async with engine.connect() as conn:
                ranged = await usage_queries.rows_after(
                    conn,
                    user_id=user_id,
                    model="gpt-4o-mini",
                    start=DAY + 1,
                    end=DAY + 9,
                    limit=100,
                )
            assert {r["request_id"] for r in ranged} == {"req_3", "req_6", "req_9"}
        finally:
            await engine.dispose()

    asyncio.run(scenario())
