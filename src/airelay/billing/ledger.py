"""Credits to a user's balance, each with its row in the append-only transaction ledger.

A credit that carries a ``reference`` (an Idempotency-Key, a Stripe session id) lands once:
the unique reference makes a retry or a duplicate delivery find the first transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.ids import new_id
from airelay.store.db import now
from airelay.store.tables import balance_holds, transactions, users


class UnknownUser(LookupError):
    pass


async def held(conn: AsyncConnection, user_id: str) -> int:
    """Money of the user that gateway instances hold for in-flight and coming calls."""
    query = select(func.coalesce(func.sum(balance_holds.c.amount), 0)).where(
        balance_holds.c.user_id == user_id
    )
    return int((await conn.execute(query)).scalar_one())


async def stored_balance(conn: AsyncConnection, user_id: str) -> int:
    """The user's balance as the database knows it: unheld plus held money."""
    value = (await conn.execute(select(users.c.balance).where(users.c.id == user_id))).scalar()
    if value is None:
        raise UnknownUser(user_id)
    return int(value) + await held(conn, user_id)


async def find(conn: AsyncConnection, reference: str) -> dict[str, Any] | None:
    query = select(transactions).where(transactions.c.reference == reference)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def credit_in(
    conn: AsyncConnection,
    *,
    user_id: str,
    amount: int,
    kind: str,
    reference: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """The credit itself, inside the caller's transaction."""
    result = await conn.execute(
        users.update().where(users.c.id == user_id).values(balance=users.c.balance + amount)
    )
    if result.rowcount == 0:
        raise UnknownUser(user_id)
    row = {
        "id": new_id("txn"),
        "user_id": user_id,
        "kind": kind,
        "amount": amount,
        "balance_after": await stored_balance(conn, user_id),
        "reference": reference,
        "description": description,
        "created_at": now(),
    }
    await conn.execute(transactions.insert().values(**row))
    return row


async def credit(
    engine: AsyncEngine,
    *,
    user_id: str,
    amount: int,
    kind: str,
    reference: str | None = None,
    description: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Add ``amount`` units to the balance and record it, in one transaction.

    Returns the transaction row and whether it is new; a reference seen before returns the
    first transaction unchanged (nothing is credited twice). Raises UnknownUser.
    """
    if amount <= 0:
        raise ValueError("a credit must be positive")
    try:
        async with engine.begin() as conn:
            if reference is not None:
                existing = await find(conn, reference)
                if existing is not None:
                    return existing, False
            row = await credit_in(
                conn,
                user_id=user_id,
                amount=amount,
                kind=kind,
                reference=reference,
                description=description,
            )
            return row, True
    except IntegrityError:
        # A concurrent credit with the same reference won the race; it is the credit.
        if reference is None:
            raise
        async with engine.connect() as conn:
            existing = await find(conn, reference)
        if existing is None:
            raise
        return existing, False
