"""Console accounts: sign-in credentials, sessions and password-reset tokens.

Secrets never reach this module in the clear: sessions and reset tokens are looked up by
the SHA-256 of their secret, passwords arrive hashed (argon2id), TOTP secrets encrypted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store import users as users_repo
from airelay.store.db import now
from airelay.store.tables import (
    credentials,
    email_verifications,
    password_resets,
    recovery_codes,
    users,
    web_sessions,
)

ROLES = ("user", "operator", "viewer")


class EmailTaken(Exception):
    """Another user has this e-mail address."""


async def create_account(
    conn: AsyncConnection,
    *,
    email: str,
    password_hash: str | None,
    role: str = "user",
    oidc_subject: str | None = None,
    name: str | None = None,
    email_verified: bool = True,
) -> dict[str, Any]:
    """A new user with its credentials, inside the caller's transaction; EmailTaken.
    ``email_verified=False``: it may not sign in until a verification token is spent."""
    if await users_repo.email_taken(conn, email):
        raise EmailTaken(email)
    user = await users_repo.create(conn, email=email, name=name)
    ts = now()
    await conn.execute(
        credentials.insert().values(
            user_id=user["id"],
            password_hash=password_hash,
            role=role,
            totp_secret=None,
            totp_enabled=0,
            oidc_subject=oidc_subject,
            created_at=ts,
            updated_at=ts,
            email_verified=int(email_verified),
        )
    )
    return user


async def login_row(conn: AsyncConnection, email: str) -> dict[str, Any] | None:
    """The user with this e-mail and its credentials (None if either is missing)."""
    query = (
        select(users, credentials)
        .join(credentials, credentials.c.user_id == users.c.id)
        .where(users.c.email == email)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def account_row(conn: AsyncConnection, user_id: str) -> dict[str, Any] | None:
    """The user and its credentials (credentials' columns None when it has none)."""
    query = (
        select(users, credentials)
        .outerjoin(credentials, credentials.c.user_id == users.c.id)
        .where(users.c.id == user_id)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def user_by_email(conn: AsyncConnection, email: str) -> str | None:
    return (await conn.execute(select(users.c.id).where(users.c.email == email))).scalar()


async def oidc_user(conn: AsyncConnection, subject: str) -> str | None:
    query = select(credentials.c.user_id).where(credentials.c.oidc_subject == subject)
    return (await conn.execute(query)).scalar()


async def use_recovery_code(conn: AsyncConnection, user_id: str, code_hash: str) -> bool:
    """Spend one recovery code (once, even under concurrent tries); whether it was valid."""
    result = await conn.execute(
        delete(recovery_codes).where(
            recovery_codes.c.id == code_hash, recovery_codes.c.user_id == user_id
        )
    )
    return result.rowcount == 1


async def spend_totp_step(conn: AsyncConnection, user_id: str, step: int) -> bool:
    """Record ``step`` as the user's last TOTP sign-in, if it is later than the last one
    (one conditional update: of two sign-ins racing with one code, one wins); whether it
    was."""
    result = await conn.execute(
        credentials.update()
        .where(
            credentials.c.user_id == user_id,
            or_(credentials.c.totp_last_step.is_(None), credentials.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return result.rowcount == 1


async def replace_recovery_codes(
    conn: AsyncConnection, user_id: str, code_hashes: list[str]
) -> None:
    """The user's recovery codes become ``code_hashes`` (none: an empty list)."""
    await conn.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
    if code_hashes:
        rows = [{"id": code_hash, "user_id": user_id} for code_hash in code_hashes]
        await conn.execute(recovery_codes.insert(), rows)


async def set_credentials(conn: AsyncConnection, user_id: str, **values: Any) -> None:
    """Change a user's credentials, creating them (role ``user``) for a user made through
    the management API, who had none."""
    values["updated_at"] = ts = now()
    result = await conn.execute(
        credentials.update().where(credentials.c.user_id == user_id).values(**values)
    )
    if not result.rowcount:
        row = {"role": "user", "totp_enabled": 0, **values, "user_id": user_id}
        await conn.execute(credentials.insert().values(created_at=ts, **row))


# -- sessions --------------------------------------------------------------------------


async def open_session(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(web_sessions.insert().values(**row))


async def session(conn: AsyncConnection, session_id: str, at: int) -> dict[str, Any] | None:
    """A live session with its user's status and current role (None if unknown, expired,
    or its user is gone or not active)."""
    query = (
        select(
            web_sessions,
            users.c.status.label("user_status"),
            users.c.email,
            credentials.c.role.label("user_role"),
        )
        .outerjoin(users, users.c.id == web_sessions.c.user_id)
        .outerjoin(credentials, credentials.c.user_id == web_sessions.c.user_id)
        .where(web_sessions.c.id == session_id, web_sessions.c.expires_at > at)
    )
    found = (await conn.execute(query)).mappings().first()
    if found is None:
        return None
    row = dict(found)
    if row["user_id"] is not None:
        if row["user_status"] != "active":
            return None
        row["role"] = row["user_role"] or "user"
    return row


async def update_session(conn: AsyncConnection, session_id: str, **values: Any) -> None:
    await conn.execute(
        web_sessions.update().where(web_sessions.c.id == session_id).values(**values)
    )


async def close_session(conn: AsyncConnection, session_id: str) -> None:
    await conn.execute(delete(web_sessions).where(web_sessions.c.id == session_id))


async def close_user_sessions(conn: AsyncConnection, user_id: str, keep: str | None = None) -> None:
    """End every session of the user (but ``keep``): after a password change or reset."""
    query = delete(web_sessions).where(web_sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(web_sessions.c.id != keep)
    await conn.execute(query)


async def prune_sessions(conn: AsyncConnection, at: int) -> None:
    await conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= at))


# -- password resets -------------------------------------------------------------------


async def create_reset(conn: AsyncConnection, token_hash: str, user_id: str, ttl: int) -> None:
    ts = now()
    await conn.execute(
        password_resets.insert().values(
            id=token_hash, user_id=user_id, created_at=ts, expires_at=ts + ttl, used_at=None
        )
    )


async def use_reset(conn: AsyncConnection, token_hash: str, at: int) -> str | None:
    """Spend a reset token (once, however many try at once); its user id, or None."""
    result = await conn.execute(
        password_resets.update()
        .where(
            and_(
                password_resets.c.id == token_hash,
                password_resets.c.used_at.is_(None),
                password_resets.c.expires_at > at,
            )
        )
        .values(used_at=at)
    )
    if result.rowcount != 1:
        return None
    query = select(password_resets.c.user_id).where(password_resets.c.id == token_hash)
    return (await conn.execute(query)).scalar()


# -- e-mail verification ---------------------------------------------------------------


async def create_verification(
    conn: AsyncConnection, token_hash: str, user_id: str, ttl: int
) -> None:
    ts = now()
    await conn.execute(
        email_verifications.insert().values(
            id=token_hash, user_id=user_id, created_at=ts, expires_at=ts + ttl, used_at=None
        )
    )


async def use_verification(conn: AsyncConnection, token_hash: str, at: int) -> str | None:
    """Spend a verification token (once, however many try at once) and mark its user's
    address verified, spending the user's other tokens too; the user id, or None."""
    result = await conn.execute(
        email_verifications.update()
        .where(
            and_(
                email_verifications.c.id == token_hash,
                email_verifications.c.used_at.is_(None),
                email_verifications.c.expires_at > at,
            )
        )
        .values(used_at=at)
    )
    if result.rowcount != 1:
        return None
    query = select(email_verifications.c.user_id).where(email_verifications.c.id == token_hash)
    user_id: str = (await conn.execute(query)).scalar_one()
    await conn.execute(
        email_verifications.update()
        .where(email_verifications.c.user_id == user_id, email_verifications.c.used_at.is_(None))
        .values(used_at=at)
    )
    await mark_verified(conn, user_id)
    return user_id


async def mark_verified(conn: AsyncConnection, user_id: str) -> None:
    """The user's address is proven theirs (a verification or reset link was opened)."""
    await conn.execute(
        credentials.update()
        .where(credentials.c.user_id == user_id, credentials.c.email_verified == 0)
        .values(email_verified=1, updated_at=now())
    )
