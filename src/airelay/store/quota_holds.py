"""Quota holds: parts of a key's quota (in one window) an instance sets aside so that it
can reserve calls against the quota from memory, exactly, while other instances do the same.

Why holds and not a counter per call: the quota must hold on SQLite alone, on PostgreSQL
with several instances, with or without Redis, and the hot path may not make a round trip
per call. Counting every reservation in Redis would be exact only where Redis is configured
(and would need reconciling with the spend the database records); a database round trip
per call would cost every call of a key with a quota. A hold is taken only when the
instance's part runs short, exactly like balance holds (``airelay.store.holds``), and this
invariant is kept by every statement here, each inside one transaction::

    spend of the window (tokens.used or tokens.period_used) + sum of the window's holds
        <= tokens.quota

A take locks the key's row and sees every other instance's holds; a flush moves charged
spend out of the hold and into the key's counters in one transaction; returning a hold, or
dropping a crashed instance's hold, only ever frees quota. Holds of a window that has
passed mean nothing to the next window (it starts from 0) and go once their calls settle.

Lock order (PostgreSQL): a key's ``tokens`` row before its holds; keys in ascending id
order. The billing flush locks keys, then quota holds, then users and their balance holds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.db import now
from airelay.store.quota_window import LIFETIME, used_in_window
from airelay.store.tables import quota_holds, tokens
from airelay.store.upsert import add_on_conflict

UNLIMITED = -1  # what ``take`` answers for a key whose quota was removed meanwhile


async def take(
    conn: AsyncConnection, instance_id: str, token_id: str, window: int, need: int, want: int
) -> int:
    """Set aside up to ``want`` (at least ``need``) of the key's quota in ``window`` for this
    instance; return what was set aside, 0 if less than ``need`` is free, ``UNLIMITED`` if
    the key has no quota any more.

    Never more than half of what is free beyond ``need``: instances sharing a key share a
    small quota instead of the first one holding all of it."""
    # A write first: it takes the row lock (PostgreSQL) or the write lock (SQLite), so the
    # reads below cannot race another instance's take.
    locked = await conn.execute(
        update(tokens).where(tokens.c.id == token_id).values(used=tokens.c.used)
    )
    if locked.rowcount == 0:
        return 0
    row = (
        await conn.execute(
            select(
                tokens.c.quota,
                tokens.c.quota_period,
                tokens.c.used,
                tokens.c.period_used,
                tokens.c.period_start,
            ).where(tokens.c.id == token_id)
        )
    ).one()
    if row.quota is None:
        return UNLIMITED
    spent = used_in_window(
        row.quota_period, int(row.used), int(row.period_used), row.period_start, window
    )
    held = int(
        (
            await conn.execute(
                select(func.coalesce(func.sum(quota_holds.c.amount), 0)).where(
                    and_(quota_holds.c.token_id == token_id, quota_holds.c.window_start == window)
                )
            )
        ).scalar_one()
    )
    free = int(row.quota) - spent - held
    if free < need or free <= 0:
        return 0
    amount = max(need, min(want, free // 2))
    await add_on_conflict(
        conn,
        quota_holds,
        [
            {
                "instance_id": instance_id,
                "token_id": token_id,
                "window_start": window,
                "amount": amount,
                "heartbeat_at": now(),
            }
        ],
        keys=("instance_id", "token_id", "window_start"),
        counters=("amount",),
    )
    return amount


async def committed(conn: AsyncConnection, token_id: str, window: int) -> tuple[int, int]:
    """A key's spend in ``window`` as written, and the sum of every instance's holds on it."""
    row = (
        await conn.execute(
            select(
                tokens.c.quota_period, tokens.c.used, tokens.c.period_used, tokens.c.period_start
            ).where(tokens.c.id == token_id)
        )
    ).one_or_none()
    if row is None:
        return 0, 0
    spent = used_in_window(
        row.quota_period, int(row.used), int(row.period_used), row.period_start, window
    )
    held = (
        await conn.execute(
            select(func.coalesce(func.sum(quota_holds.c.amount), 0)).where(
                and_(quota_holds.c.token_id == token_id, quota_holds.c.window_start == window)
            )
        )
    ).scalar_one()
    return spent, int(held)


async def give_back(
    conn: AsyncConnection, instance_id: str, token_id: str, window: int, amount: int
) -> None:
    """Return ``amount`` of this instance's hold on the key's ``window``; the row goes when
    nothing is left in it."""
    where = and_(
        quota_holds.c.instance_id == instance_id,
        quota_holds.c.token_id == token_id,
        quota_holds.c.window_start == window,
    )
    if amount > 0:
        await conn.execute(
            update(quota_holds).where(where).values(amount=quota_holds.c.amount - amount)
        )
    await conn.execute(delete(quota_holds).where(and_(where, quota_holds.c.amount <= 0)))


# Built once (with bind parameters): the billing flush runs these every few dozen ms.
_WINDOW = bindparam("b_window", type_=BigInteger)
_AMOUNT = bindparam("b_amount", type_=BigInteger)
# The key's count is of an earlier window (or of none yet): this charge starts the window.
_FRESH = or_(tokens.c.period_start.is_(None), tokens.c.period_start < _WINDOW)
_SPEND_WINDOW = (
    update(tokens)
    .where(tokens.c.id == bindparam("b_token"))
    .values(
        # Both right-hand sides read the row as it was (SET is evaluated on the old row).
        period_used=case(
            (tokens.c.period_start == _WINDOW, tokens.c.period_used + _AMOUNT),
            (_FRESH, _AMOUNT),
            else_=tokens.c.period_used,
        ),
        period_start=case((_FRESH, _WINDOW), else_=tokens.c.period_start),
    )
)
_SPEND_HOLD = (
    update(quota_holds)
    .where(
        and_(
            quota_holds.c.instance_id == bindparam("b_instance"),
            quota_holds.c.token_id == bindparam("b_token"),
            quota_holds.c.window_start == _WINDOW,
        )
    )
    .values(amount=quota_holds.c.amount - _AMOUNT)
)


async def spend(conn: AsyncConnection, instance_id: str, spent: dict[tuple[str, int], int]) -> None:
    """Charged usage leaves the holds (``spent``: amount per key id and window) and is
    counted in the keys' window spend, in the caller's transaction (the flush, which adds
    the same charges to ``tokens.used``). A charge counts for the window its call was
    reserved in: one whose window has passed is in ``used`` only."""
    if not spent:
        return
    params = [
        {
            "b_instance": instance_id,
            "b_token": token_id,
            "b_window": window,
            "b_amount": spent[(token_id, window)],
        }
        for token_id, window in sorted(spent)
    ]
    # A window counted only for keys with a period (window 0 is a key's whole life: its
    # spend is ``used``), charges of a past window left out (it cannot be spent again).
    windowed = [p for p in params if p["b_window"] != LIFETIME]
    if windowed:
        await conn.execute(_SPEND_WINDOW, windowed)
    await conn.execute(_SPEND_HOLD, params)


async def heartbeat(conn: AsyncConnection, instance_id: str) -> None:
    """Mark this instance's quota holds alive, locking them in key order first (the order
    of every other writer of these rows)."""
    await conn.execute(
        select(quota_holds.c.token_id)
        .where(quota_holds.c.instance_id == instance_id)
        .order_by(quota_holds.c.token_id, quota_holds.c.window_start)
        .with_for_update()
    )
    await conn.execute(
        update(quota_holds)
        .where(quota_holds.c.instance_id == instance_id)
        .values(heartbeat_at=now())
    )


async def release_stale(conn: AsyncConnection, older_than: int) -> int:
    """Drop the holds whose instance stopped beating before ``older_than`` (a crashed
    instance): their quota is free again. Returns how many were dropped."""
    result = await conn.execute(delete(quota_holds).where(quota_holds.c.heartbeat_at < older_than))
    return int(result.rowcount)
