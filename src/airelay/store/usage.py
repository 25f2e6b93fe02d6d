"""Writing usage: raw rows plus their daily rollup, in the caller's transaction."""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.tables import usage_daily, usage_logs
from airelay.store.upsert import add_on_conflict

COUNTERS = (
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
)


@functools.lru_cache(maxsize=4)
def _day_starting(day_start: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day_start))


def day_of(ts: int) -> str:
    """The UTC date of a Unix time (formatting is the costly part: once per day)."""
    return _day_starting(ts - ts % 86400)


COLUMNS = tuple(column.name for column in usage_logs.columns)
_as_tuple = operator.itemgetter(*COLUMNS)


def _insert_sql(paramstyle: str) -> str:
    """The plain INSERT for the driver's parameter style (qmark for SQLite, $n for asyncpg)."""
    if paramstyle == "qmark":
        marks = ", ".join("?" for _ in COLUMNS)
    else:
        marks = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    return f"INSERT INTO usage_logs ({', '.join(COLUMNS)}) VALUES ({marks})"


async def insert_batch(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Raw rows and their daily rollup. The rows go as one driver-level executemany of
    tuples: the usual statement path costs several microseconds a row in parameter
    processing, and these are the most numerous writes of the system."""
    if not rows:
        return
    sql = _insert_sql(conn.dialect.paramstyle)
    await conn.exec_driver_sql(sql, list(map(_as_tuple, rows)))
    totals: dict[tuple[str, str, str, str], list[int]] = {}
    for row in rows:
        key = (day_of(row["created_at"]), row["user_id"], row["model"], row["channel_id"] or "")
        total = totals.get(key)
        if total is None:
            total = totals[key] = [0, 0, 0, 0, 0, 0]
        total[0] += 1
        total[1] += row["prompt_tokens"]
        total[2] += row["completion_tokens"]
        total[3] += row["cached_tokens"]
        total[4] += row["reasoning_tokens"]
        total[5] += row["cost"]
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
    await add_on_conflict(
        conn,
        usage_daily,
        rollups,
        keys=("day", "user_id", "model", "channel_id"),
        counters=COUNTERS,
    )
