"""Balance holds: money an instance takes out of ``users.balance`` to reserve from memory.

Every statement here moves money between ``users.balance`` and ``balance_holds.amount`` (or
out of a hold into spend) inside one transaction, so the sum of both is only ever changed by
credits and by recorded usage.

Lock order (PostgreSQL row locks): a user's ``users`` row before any of its holds, and
several users in ascending id order. Every function here, and every caller writing several
users in one transaction, keeps it, so two transactions never wait on each other in a cycle
(a take refilling while a flush spends from the same hold used to deadlock).
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store import driver
from airelay.store.db import now
from airelay.store.tables import balance_holds, users
from airelay.store.upsert import add_on_conflict


async def take(conn: AsyncConnection, instance_id: str, user_id: str, need: int, want: int) -> int:
    """Move up to ``want`` (at least ``need``) units from the balance into this instance's
    hold; return what was taken, 0 if the balance is below ``need``.

    Never more than half the balance beyond ``need``: instances behind one load balancer
    share a small balance instead of the first one to take holding all of it while the
    others refuse the same user's calls (until its idle hold goes back, seconds later)."""
    # A write first: it takes the row lock (PostgreSQL) or the write lock (SQLite), so the
    # read below cannot race another instance's take.
    locked = await conn.execute(
        update(users).where(users.c.id == user_id).values(balance=users.c.balance)
    )
    if locked.rowcount == 0:
        return 0
    balance = int(
        (await conn.execute(select(users.c.balance).where(users.c.id == user_id))).scalar_one()
    )
    if balance <= 0 or balance < need:
        return 0
    amount = max(need, min(want, balance // 2))
    await conn.execute(
        update(users).where(users.c.id == user_id).values(balance=users.c.balance - amount)
    )
    await add_on_conflict(
        conn,
        balance_holds,
        [{"instance_id": instance_id, "user_id": user_id, "amount": amount, "heartbeat_at": now()}],
        keys=("instance_id", "user_id"),
        counters=("amount",),
    )
    return amount


async def give_back(conn: AsyncConnection, instance_id: str, user_id: str, amount: int) -> None:
    """Return ``amount`` of this instance's hold to the balance."""
    if amount <= 0:
        return
    await conn.execute(
        update(users).where(users.c.id == user_id).values(balance=users.c.balance + amount)
    )
    await conn.execute(
        update(balance_holds)
        .where(and_(balance_holds.c.instance_id == instance_id, balance_holds.c.user_id == user_id))
        .values(amount=balance_holds.c.amount - amount)
    )
    await conn.execute(
        delete(balance_holds).where(
            and_(
                balance_holds.c.instance_id == instance_id,
                balance_holds.c.user_id == user_id,
                balance_holds.c.amount <= 0,
            )
        )
    )


# Built once (with bind parameters): the billing flush runs these every few dozen ms, and a
# statement built per call costs the event loop its construction and its cache key.
_SPEND_USER = (
    update(users)
    .where(users.c.id == bindparam("b_user"))
    .values(total_usage=users.c.total_usage + bindparam("b_amount"), updated_at=bindparam("b_now"))
)
_SPEND_HOLD = (
    update(balance_holds)
    .where(
        and_(
            balance_holds.c.instance_id == bindparam("b_instance"),
            balance_holds.c.user_id == bindparam("b_user"),
        )
    )
    .values(amount=balance_holds.c.amount - bindparam("b_amount"))
)


async def spend(conn: AsyncConnection, instance_id: str, spent: dict[str, int]) -> None:
    """Charged usage leaves the holds for good (the usage rows record where it went), for
    several users (``spent``: amount per user id) in one statement per table. The users'
    rows are locked in ascending id order, then their holds in the same order: every user
    row before any hold keeps the lock order of this module."""
    if not spent:
        return
    at = now()
    params = [
        {"b_user": user_id, "b_amount": spent[user_id], "b_instance": instance_id, "b_now": at}
        for user_id in sorted(spent)
    ]
    await driver.execute_many(conn, _SPEND_USER, params)
    await driver.execute_many(conn, _SPEND_HOLD, params)


async def heartbeat(conn: AsyncConnection, instance_id: str) -> int:
    """Mark this instance's holds alive. Their rows are locked by user id first, the order
    every other writer of holds keeps: one UPDATE would lock them in whatever order the table
    is scanned, and deadlock with a flush of several users' holds."""
    await conn.execute(
        select(balance_holds.c.user_id)
        .where(balance_holds.c.instance_id == instance_id)
        .order_by(balance_holds.c.user_id)
        .with_for_update()
    )
    result = await conn.execute(
        update(balance_holds)
        .where(balance_holds.c.instance_id == instance_id)
        .values(heartbeat_at=now())
    )
    return int(result.rowcount)


async def release_stale(conn: AsyncConnection, older_than: int) -> int:
    """Return to their balances the holds whose instance stopped beating before
    ``older_than`` (a crashed instance). Returns the number of holds released."""
    stale = (
        await conn.execute(
            select(balance_holds.c.user_id, balance_holds.c.instance_id)
            .where(balance_holds.c.heartbeat_at < older_than)
            .order_by(balance_holds.c.user_id, balance_holds.c.instance_id)
        )
    ).all()
    released = 0
    for user_id, instance_id in stale:
        # The user's row first (lock order); the hold's amount is then read as it is deleted,
        # not as it was listed: a flush may have spent from it in between.
        await conn.execute(
            update(users).where(users.c.id == user_id).values(balance=users.c.balance)
        )
        amount = (
            await conn.execute(
                delete(balance_holds)
                .where(
                    and_(
                        balance_holds.c.instance_id == instance_id,
                        balance_holds.c.user_id == user_id,
                        balance_holds.c.heartbeat_at < older_than,
                    )
                )
                .returning(balance_holds.c.amount)
            )
        ).scalar()
        if amount is None:  # its instance beat again, or another instance released it
            continue
        await conn.execute(
            update(users).where(users.c.id == user_id).values(balance=users.c.balance + amount)
        )
        released += 1
    return released


async def withdraw(
    conn: AsyncConnection, instance_id: str, user_id: str, amount: int, from_hold: int
) -> bool:
    """Take ``amount`` out of the user's money for good: ``from_hold`` of it from this
    instance's hold (its free part, which the caller has set aside), the rest from the
    balance; False, with nothing changed, when the balance cannot cover the rest. The
    user's row is locked first (the lock order of this module)."""
    rest = amount - from_hold
    result = await conn.execute(
        update(users)
        .where(and_(users.c.id == user_id, users.c.balance >= rest))
        .values(balance=users.c.balance - rest)
    )
    if result.rowcount == 0:
        return False
    if from_hold:
        await conn.execute(
            update(balance_holds)
            .where(
                and_(balance_holds.c.instance_id == instance_id, balance_holds.c.user_id == user_id)
            )
            .values(amount=balance_holds.c.amount - from_hold)
        )
    return True
