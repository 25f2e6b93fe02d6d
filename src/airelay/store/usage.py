"""Writing usage: raw rows plus their daily rollup, in the caller's transaction."""

from __future__ import annotations

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


def day_of(ts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


async def insert_batch(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    await conn.execute(usage_logs.insert(), list(rows))
    totals: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (day_of(row["created_at"]), row["user_id"], row["model"], row["channel_id"] or "")
        total = totals.get(key)
        if total is None:
            total = totals[key] = {
                "day": key[0],
                "user_id": key[1],
                "model": key[2],
                "channel_id": key[3],
                **dict.fromkeys(COUNTERS, 0),
            }
        total["requests"] += 1
        for name in COUNTERS[1:]:
            total[name] += row[name]
    await add_on_conflict(
        conn,
        usage_daily,
        list(totals.values()),
        keys=("day", "user_id", "model", "channel_id"),
        counters=COUNTERS,
    )
