"""A user's balance and spend as the user sees them, from any instance, and as the operator
sees them: one figure for both (``/v1/balance`` and the admin user object)."""

from __future__ import annotations

from collections.abc import Sequence
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


async def account_views(
    engine: AsyncEngine, wallets: Wallets, user_ids: Sequence[str]
) -> dict[str, AccountView]:
    """Balance = unheld + held money in the database (what instances hold for coming calls
    is still the user's), less what this instance has charged but not yet written (so a
    caller sees its own calls at once). Users not found are left out."""
    if not user_ids:
        return {}
    held = (
        select(func.coalesce(func.sum(balance_holds.c.amount), 0))
        .where(balance_holds.c.user_id == users.c.id)
        .scalar_subquery()
    )
    query = select(users.c.id, users.c.balance + held, users.c.total_usage, users.c.updated_at)
    query = query.where(users.c.id.in_(list(user_ids)))
    # One statement (one snapshot), read while no flush is between its commit and its
    # in-memory bookkeeping: the pending figures then match what the database holds.
    async with wallets.quiet(), engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        pending = {row[0]: wallets.pending_spend(row[0]) for row in rows}
    return {
        row[0]: AccountView(
            balance=int(row[1]) - pending[row[0]],
            total_spent=int(row[2]) + pending[row[0]],
            updated_at=int(row[3]),
        )
        for row in rows
    }


async def account_view(engine: AsyncEngine, wallets: Wallets, user_id: str) -> AccountView:
    """One user's figures (see ``account_views``); raises ``ledger.UnknownUser``."""
    view = (await account_views(engine, wallets, [user_id])).get(user_id)
    if view is None:
        raise ledger.UnknownUser(user_id)
    return view
