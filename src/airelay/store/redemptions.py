"""Redemption codes: batches written at once, listed, disabled, and claimed once.

A claim is one conditional ``UPDATE ... WHERE status = 'active'``: of any number of
concurrent claims of one code, exactly one changes the row (PostgreSQL re-checks the
condition after the winner commits; SQLite serialises writers), so the code credits once.
The credit itself is written by the caller in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.ids import new_id
from airelay.store import crud
from airelay.store.tables import redemptions

STATUSES = ("active", "disabled", "redeemed")


class NotFound(LookupError):
    """No such code."""


class NotRedeemable(Exception):
    """The code exists but cannot be redeemed: ``reason`` is redeemed, disabled or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def create_batch(
    conn: AsyncConnection,
    *,
    name: str,
    amount: int,
    expires_at: int | None,
    codes: list[tuple[str, str]],
    created_at: int,
) -> list[dict[str, Any]]:
    """One row per ``(code_hash, code_hint)``, all active; returns the rows."""
    rows = [
        {
            "id": new_id("rdm"),
            "name": name,
            "code_hash": code_hash,
            "code_hint": hint,
            "amount": amount,
            "status": "active",
            "expires_at": expires_at,
            "created_at": created_at,
            "redeemed_by": None,
            "redeemed_at": None,
        }
        for code_hash, hint in codes
    ]
    if rows:
        await conn.execute(redemptions.insert(), rows)
    return rows


async def page(
    conn: AsyncConnection,
    *,
    page: int,
    limit: int,
    status: str | None = None,
    name: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    conditions: list[ColumnElement[bool]] = []
    if status is not None:
        conditions.append(redemptions.c.status == status)
    if name is not None:
        conditions.append(redemptions.c.name == name)
    where = and_(*conditions) if conditions else None
    return await crud.page(conn, redemptions, page=page, limit=limit, where=where)


async def disable(conn: AsyncConnection, redemption_id: str) -> dict[str, Any]:
    """Make an active code unredeemable for good; NotFound, or NotRedeemable('redeemed') for
    a code already used (its record stays as it is). Disabling twice is no error."""
    result = await conn.execute(
        redemptions.update()
        .where(redemptions.c.id == redemption_id, redemptions.c.status == "active")
        .values(status="disabled")
    )
    row = await crud.get(conn, redemptions, redemption_id)
    if row is None:
        raise NotFound(redemption_id)
    if not result.rowcount and row["status"] == "redeemed":
        raise NotRedeemable("redeemed")
    return row


async def claim(conn: AsyncConnection, code_hash: str, user_id: str, at: int) -> dict[str, Any]:
    """Mark the code redeemed by ``user_id`` and return its row, inside the caller's
    transaction; NotFound or NotRedeemable (why) when this claim did not win it."""
    result = await conn.execute(
        redemptions.update()
        .where(
            redemptions.c.code_hash == code_hash,
            redemptions.c.status == "active",
            or_(redemptions.c.expires_at.is_(None), redemptions.c.expires_at > at),
        )
        .values(status="redeemed", redeemed_by=user_id, redeemed_at=at)
    )
    query = select(redemptions).where(redemptions.c.code_hash == code_hash)
    found = (await conn.execute(query)).mappings().first()
    if found is None:
        raise NotFound(code_hash)
    row = dict(found)
    if result.rowcount == 1:
        return row
    if row["status"] == "active":  # the only condition left: its time is up
        raise NotRedeemable("expired")
    raise NotRedeemable(str(row["status"]))
