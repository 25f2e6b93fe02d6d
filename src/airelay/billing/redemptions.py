"""Redemption codes as money: issuing a batch and redeeming a code once.

A code is ``rc-`` and 128 random bits; only its SHA-256 is stored. Redeeming claims the code
and credits the balance (with its ledger row, referenced ``redeem:<code id>``) in one
transaction: of concurrent redemptions of one code exactly one credits, and a credit is
never left without its claim nor a claim without its credit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import ledger
from airelay.security.keys import hash_key, mask
from airelay.store import redemptions as store
from airelay.store.db import now

CODE_PREFIX = "rc-"
MAX_BATCH = 1000
MAX_CODE_LENGTH = 100

NotFound = store.NotFound
NotRedeemable = store.NotRedeemable


@dataclass(frozen=True, slots=True)
class Issued:
    """A code as issued: its record id and the code itself (shown this once)."""

    id: str
    code: str


@dataclass(frozen=True, slots=True)
class Redeemed:
    redemption_id: str
    transaction_id: str
    amount: int
    balance_after: int  # the stored balance right after the credit (units)


def new_code() -> str:
    return CODE_PREFIX + secrets.token_hex(16)


def code_hash(code: str) -> str:
    """What a typed code is looked up by: surrounding blanks and letter case do not matter
    (codes are hex, read off a card or a chat message)."""
    return hash_key(code.strip().lower())


async def issue(
    engine: AsyncEngine, *, name: str, amount: int, count: int, expires_at: int | None
) -> list[Issued]:
    """``count`` new active codes worth ``amount`` units each, written in one transaction."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    if not 1 <= count <= MAX_BATCH:
        raise ValueError(f"count must be between 1 and {MAX_BATCH}")
    codes = [new_code() for _ in range(count)]
    async with engine.begin() as conn:
        rows = await store.create_batch(
            conn,
            name=name,
            amount=amount,
            expires_at=expires_at,
            codes=[(code_hash(code), mask(code)) for code in codes],
            created_at=now(),
        )
    return [Issued(row["id"], code) for row, code in zip(rows, codes, strict=True)]


async def redeem(engine: AsyncEngine, code: str, user_id: str) -> Redeemed:
    """Credit the code's amount to ``user_id`` once. Raises NotFound, NotRedeemable (with
    its reason) or ledger.UnknownUser; nothing is written then."""
    if not code.strip() or len(code) > MAX_CODE_LENGTH:
        raise NotFound(code)
    async with engine.begin() as conn:
        row = await store.claim(conn, code_hash(code), user_id, now())
        credit = await ledger.credit_in(
            conn,
            user_id=user_id,
            amount=row["amount"],
            kind="redeem",
            reference=f"redeem:{row['id']}",
            description=f"redemption code {row['code_hint']} ({row['name']})",
        )
    return Redeemed(row["id"], credit["id"], row["amount"], credit["balance_after"])
