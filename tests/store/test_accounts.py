"""Console account tokens in the store: an e-mail verification token is spent once, not
after it expires, and verifying an account spends its other tokens."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from airelay.store import accounts
from airelay.store.db import create_engine, now
from airelay.store.migrate import upgrade


@pytest.fixture(scope="module")
def migrated(database_url: str) -> str:
    upgrade(database_url)
    return database_url


async def _scenario(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            user = await accounts.create_account(
                conn,
                email=f"{uuid.uuid4().hex[:10]}@example.com",
                password_hash="x",
                email_verified=False,
            )
            await accounts.create_verification(conn, "a" * 64, user["id"], 60)
            await accounts.create_verification(conn, "b" * 64, user["id"], 60)
            await accounts.create_verification(conn, "c" * 64, user["id"], 60)
        async with engine.connect() as conn:
            row = await accounts.account_row(conn, user["id"])
        assert row is not None and row["email_verified"] == 0
        async with engine.begin() as conn:
            # Past its hour: refused, and the account stays unverified.
            assert await accounts.use_verification(conn, "a" * 64, now() + 61) is None
            assert await accounts.use_verification(conn, "b" * 64, now()) == user["id"]
            assert await accounts.use_verification(conn, "b" * 64, now()) is None
            assert await accounts.use_verification(conn, "c" * 64, now()) is None
        async with engine.connect() as conn:
            row = await accounts.account_row(conn, user["id"])
        assert row is not None and row["email_verified"] == 1
    finally:
        await engine.dispose()


def test_a_verification_token_is_spent_once_and_expires(migrated: str) -> None:
    asyncio.run(_scenario(migrated))
