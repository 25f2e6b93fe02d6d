"""A user's balance and spend as the user sees them, from any instance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import ledger
from airelay.billing.wallets import Wallets
from airelay.store.tables import users


@dataclass(frozen=True, slots=True)
class AccountView:
    balance: int  # units, what is left to spend
    total_spent: int  # units, all billed usage
    updated_at: int  # Unix seconds of the last change to the account row


async def account_view(engine: AsyncEngine, wallets: Wallets, user_id: str) -> AccountView:
    """Balance = unheld + held money in the database, less what this instance has charged
    but not yet written (so a caller sees its own calls at once)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(users.c.total_usage, users.c.updated_at).where(users.c.id == user_id)
            )
        ).first()
        if row is None:
            raise ledger.UnknownUser(user_id)
        stored = await ledger.stored_balance(conn, user_id)
    pending = wallets.pending_spend(user_id)
    return AccountView(
        balance=stored - pending,
        total_spent=int(row.total_usage) + pending,
        updated_at=int(row.updated_at),
    )
