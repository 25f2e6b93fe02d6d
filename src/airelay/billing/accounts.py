"""A user's balance and spend as the user sees them, from any instance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import ledger
from airelay.billing.wallets import Wallets
from airelay.store.tables import balance_holds, users


@dataclass(frozen=True, slots=True)
class AccountView:
    balance: int  # units, what is left to spend
    total_spent: int  # units, all billed usage
    updated_at: int  # Unix seconds of the last change to the account row


async def account_view(engine: AsyncEngine, wallets: Wallets, user_id: str) -> AccountView:
    """Balance = unheld + held money in the database, less what this instance has charged
    but not yet written (so a caller sees its own calls at once)."""
    held = (
        select(func.coalesce(func.sum(balance_holds.c.amount), 0))
        .where(balance_holds.c.user_id == user_id)
        .scalar_subquery()
    )
    query = select(users.c.balance + held, users.c.total_usage, users.c.updated_at).where(
        users.c.id == user_id
    )
    # One statement (one snapshot), read while no flush is between its commit and its
    # in-memory bookkeeping: the pending figure then matches what the database holds.
    async with wallets.quiet(), engine.connect() as conn:
        row = (await conn.execute(query)).first()
        pending = wallets.pending_spend(user_id)
    if row is None:
        raise ledger.UnknownUser(user_id)
    stored = int(row[0])
    return AccountView(
        balance=stored - pending,
        total_spent=int(row.total_usage) + pending,
        updated_at=int(row.updated_at),
    )
