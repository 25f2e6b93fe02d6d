"""Writing usage: raw rows plus their daily rollup, in the caller's transaction."""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Sequence
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store import driver
from airelay.store.tables import usage_daily, usage_logs
from airelay.store.upsert import upsert_statement

COUNTERS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
    "cache_write_tokens",
    # What the media endpoints deliver and bill: images generated, characters read aloud,
    # seconds of audio heard (kept per day when raw rows expire).
    "images",
    "characters",
    "audio_seconds",
    # Over the rows whose upstream cost is known only (a row's ``upstream_cost`` not None).
    "upstream_cost",
    "cost_known_requests",
    "cost_known_revenue",
)


@functools.lru_cache(maxsize=4)
def _day_starting(day_start: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day_start))


def day_of(ts: int) -> str:
    """The UTC date of a Unix time (formatting is the costly part: once per day)."""
    return _day_starting(ts - ts % 86400)


COLUMNS = tuple(column.name for column in usage_logs.columns)
_as_tuple = operator.itemgetter(*COLUMNS)
# The columns added since the first release, with their database default ("0", or NULL for a
# nullable one): a row built without one (a new counter that some writer of rows does not
# know yet) takes the default instead of failing the whole batch, every other user's rows
# with it, at every retry.
_DEFAULTS: dict[str, int | None] = {
    column.name: int(str(column.server_default.arg))  # type: ignore[attr-defined]
    for column in usage_logs.columns
    if column.server_default is not None
}
_DEFAULTS["upstream_cost"] = None  # not known


def _as_tuples(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    try:
        return list(map(_as_tuple, rows))
    except KeyError:  # rare: only a row missing a defaulted column takes this path
        return [_as_tuple({**_DEFAULTS, **row}) for row in rows]


# Rows per INSERT statement, at most. One statement per chunk: sqlite3 gives up the GIL
# around each step of a statement, and an executemany steps once per row, so under load
# every row waited for the busy event loop to hand the GIL back (810 rows took ~1 s, holding
# SQLite's write lock all along). Each connection caches one prepared statement per SQL
# text, so the texts are few: on PostgreSQL one (the rows go as one JSON parameter, an
# array of row arrays encoded in C and unpacked by the server; asyncpg's array parameters
# check every element in Python, several times the event-loop time of the encoding); on
# SQLite one per power of eight up to CHUNK_ROWS (rows bound as plain parameters, in C). A
# prepared statement of n rows holds ~4.8 KB a row in SQLite's memory, per connection that
# ran it (2.4 MB at 512 rows): powers of two (4.9 MB each) kept 5 MB more resident after a
# busy second than powers of eight (2.8 MB), which take up to 21 statements for a batch's
# last 511 rows rather than up to 9.
# SQLite's json_each + json_extract cost ~12 µs a row of the gateway's own CPU (the engine
# runs in its process), a bound VALUES list ~2 µs.
CHUNK_ROWS = 512

# Unbounded PostgreSQL types: a cast to varchar(n) would cut a longer value short instead of
# refusing it as the column does.
_PG_CAST: dict[type[Any], str] = {String: "text", Integer: "int4", BigInteger: "int8"}


def _sqlite_insert(rows: int) -> str:
    values = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return f"INSERT INTO usage_logs ({', '.join(COLUMNS)}) VALUES " + ", ".join([values] * rows)


def _postgres_insert() -> str:
    picks = ", ".join(
        f"(r ->> {i})::{_PG_CAST[type(column.type)]}" for i, column in enumerate(usage_logs.columns)
    )
    return (
        f"INSERT INTO usage_logs ({', '.join(COLUMNS)}) "
        f"SELECT {picks} FROM json_array_elements($1::text::json) AS r"
    )


# Rows per statement -> its SQL text: CHUNK_ROWS, then each power of eight below it, so that
# a batch of n rows takes n // CHUNK_ROWS statements, then as many as the rest's octal
# digits add up to.
_SQLITE_SIZES = tuple(CHUNK_ROWS >> shift for shift in range(0, CHUNK_ROWS.bit_length(), 3))
assert _SQLITE_SIZES[-1] == 1, "CHUNK_ROWS must be a power of eight"
_SQLITE_INSERTS = {size: _sqlite_insert(size) for size in _SQLITE_SIZES}
_POSTGRES_INSERT = _postgres_insert()


async def _insert_rows(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    tuples = _as_tuples(rows)
    # Through SQLAlchemy, not ``driver``: its cursor events see the usage rows written
    # (the lost-COMMIT-reply tests inject their fault on SQLite by watching for them).
    if conn.dialect.name == "postgresql":
        for start in range(0, len(tuples), CHUNK_ROWS):
            chunk = orjson.dumps(tuples[start : start + CHUNK_ROWS]).decode()
            await conn.exec_driver_sql(_POSTGRES_INSERT, (chunk,))
        return
    start, sizes = 0, iter(_SQLITE_SIZES)
    size = next(sizes)
    while start < len(tuples):
        while size > len(tuples) - start:
            size = next(sizes)
        values = tuple(chain.from_iterable(tuples[start : start + size]))
        await conn.exec_driver_sql(_SQLITE_INSERTS[size], values)
        start += size


async def insert_batch(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Raw rows and their daily rollup. The rows go at the driver level, a chunk of rows per
    statement (see ``CHUNK_ROWS``): the usual statement path costs several microseconds a
    row in parameter processing, and these are the most numerous writes of the system."""
    if not rows:
        return
    await _insert_rows(conn, rows)
    totals: dict[tuple[str, str, str, str], list[int]] = {}
    for row in rows:
        key = (day_of(row["created_at"]), row["user_id"], row["model"], row["channel_id"] or "")
        total = totals.get(key)
        if total is None:
            total = totals[key] = [0] * len(COUNTERS)
        total[0] += 1
        total[1] += row["prompt_tokens"]
        total[2] += row["completion_tokens"]
        total[3] += row["cached_tokens"]
        total[4] += row["reasoning_tokens"]
        total[5] += row["cost"]
        total[6] += row["cache_write_tokens"]
        # Counters added since: a row built without one counts it as its default (0).
        total[7] += row.get("images", 0)
        total[8] += row.get("characters", 0)
        total[9] += row.get("audio_seconds", 0)
        upstream = row.get("upstream_cost")
        if upstream is not None:
            total[10] += upstream
            total[11] += 1
            total[12] += row["cost"]
    rollups = [
        {
            "day": day,
            "user_id": user,
            "model": model,
            "channel_id": channel,
            **dict(zip(COUNTERS, counts, strict=True)),
        }
        # In key order: two instances upserting the same rollups lock them in one order.
        for (day, user, model, channel), counts in sorted(totals.items())
    ]
    upsert = upsert_statement(
        conn.dialect.name, usage_daily, ("day", "user_id", "model", "channel_id"), COUNTERS
    )
    await driver.execute_many(conn, upsert, rollups)
