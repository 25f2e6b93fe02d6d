"""The money of a video task: priced per second of video (by resolution when the catalog
says so), reserved when the task is created, and closed exactly once: charged on the real
duration when it succeeds (the rest given back), given back in full when it fails, times
out or is cancelled.

The reservation leaves the user's balance in the transaction that writes the task row
(``Wallets.withdraw``), so it survives any restart; closing it is one transaction that
first flips the row's ``settled_at`` (only one closer can) and then moves the money: the
usage row and its rollup, the key's spend, the user's balance and total, in the lock order
of every other writer (rollups, keys, users).
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.formats.video import TaskStatus
from airelay.ids import new_id
from airelay.pricing import Price
from airelay.store import tokens as token_store
from airelay.store import usage as usage_store
from airelay.store import video_tasks
from airelay.store.tables import users


class NoPrice(ValueError):
    """The model's per-second price has no entry for the asked resolution."""


def unit_price(price: Price, key: str | None) -> int:
    """Units per second of video: the one price, or the price for ``key`` (a resolution
    such as ``720p``, or a size), else the ``default`` entry."""
    per_second = price.per_video_second
    if isinstance(per_second, int):
        return per_second
    if key is not None:
        for candidate in (key, key.lower(), key.replace("*", "x")):
            if candidate in per_second:
                return per_second[candidate]
    if "default" in per_second:
        return per_second["default"]
    known = ", ".join(sorted(per_second))
    raise NoPrice(f"no per-second price for resolution {key!r}; priced: {known}")


def multiplier_text(multiplier: Fraction | None) -> str | None:
    return None if multiplier is None or multiplier == 1 else str(multiplier)


def cost(seconds: int, price_per_second: int, multiplier: str | None) -> int:
    """``seconds`` of video, times the group multiplier, rounded up to a unit once."""
    amount = seconds * price_per_second
    if multiplier is None:
        return amount
    factor = Fraction(multiplier)
    return -(-amount * factor.numerator // factor.denominator)


def billed_seconds(requested: int, reported: float | None) -> int:
    """The seconds a finished video is charged for: what the upstream reports, rounded to
    the nearest second (a clip of 5.04 s is a 5 s clip), never more than was reserved for;
    the requested duration when the upstream reports none."""
    if reported is None or reported <= 0:
        return requested
    return max(1, min(requested, int(reported + 0.5)))


async def settle(
    engine: AsyncEngine,
    task_id: str,
    *,
    reported_seconds: float | None,
    video_url: str | None,
) -> int | None:
    """Close a succeeded task: charge its real duration, give back the rest. Returns the
    charge, or None when the task was closed already (by another poller, or cancelled)."""
    at = int(time.time())
    async with engine.begin() as conn:
        row = await video_tasks.get(conn, task_id)
        if row is None or row["settled_at"] is not None:
            return None
        seconds = billed_seconds(row["seconds"], reported_seconds)
        charge: int = min(int(row["reserved"]), cost(seconds, row["unit_price"], row["multiplier"]))
        closed = await video_tasks.close(
            conn,
            task_id,
            {
                "status": str(TaskStatus.SUCCEEDED),
                "progress": 100,
                "cost": charge,
                "settled_at": at,
                "completed_at": at,
                "updated_at": at,
                "video_url": video_url,
            },
        )
        if closed is None:
            return None
        await usage_store.insert_batch(conn, [_usage_row(closed, charge, at)])
        if closed["token_id"] is not None:
            await token_store.add_used(conn, {closed["token_id"]: charge})
        await conn.execute(
            update(users)
            .where(users.c.id == closed["user_id"])
            .values(
                balance=users.c.balance + (closed["reserved"] - charge),
                total_usage=users.c.total_usage + charge,
                updated_at=at,
            )
        )
    return charge


async def refund(
    engine: AsyncEngine,
    task_id: str,
    *,
    status: TaskStatus,
    error_code: str | None,
    error_message: str | None,
) -> bool:
    """Close a task that produced nothing (failed, timed out, cancelled): its whole
    reservation goes back. False when it was closed already."""
    at = int(time.time())
    async with engine.begin() as conn:
        closed = await video_tasks.close(
            conn,
            task_id,
            {
                "status": str(status),
                "cost": 0,
                "settled_at": at,
                "completed_at": at,
                "updated_at": at,
                "error_code": error_code,
                "error_message": error_message,
            },
        )
        if closed is None:
            return False
        await conn.execute(
            update(users)
            .where(users.c.id == closed["user_id"])
            .values(balance=users.c.balance + closed["reserved"], updated_at=at)
        )
    return True


def _usage_row(task: dict[str, Any], charge: int, at: int) -> dict[str, Any]:
    return {
        "id": new_id("log"),
        "user_id": task["user_id"],
        "token_id": task["token_id"],
        "model": task["model"],
        "endpoint": "/v1/videos",
        "channel_id": task["channel_id"],
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cache_write_tokens": 0,
        "cache_write_1h_tokens": 0,
        "affinity": 0,
        "images": 0,
        "characters": 0,
        "audio_seconds": 0,
        "latency_ms": max(0, (at - task["created_at"]) * 1000),
        "status": 200,
        "request_id": task["request_id"],
        "created_at": at,
        "cost": charge,
        "upstream_cost": None,  # a video's upstream cost is not known (yet)
    }
