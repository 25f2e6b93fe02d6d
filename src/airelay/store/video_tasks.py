"""Video task rows: written and read here, each call inside the caller's transaction.

Two guards make the background work exactly-once across instances:
- a poller owns a task only while its lease runs (``claim`` is a conditional UPDATE on an
  expired lease: of two instances, one sees a row changed);
- a task's money closes once (``close`` is a conditional UPDATE on ``settled_at IS NULL``,
  in the transaction that moves the money).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.store.tables import video_tasks

_OPEN = video_tasks.c.settled_at.is_(None)


async def insert(conn: AsyncConnection, row: Mapping[str, Any]) -> None:
    await conn.execute(video_tasks.insert().values(**row))


async def get(conn: AsyncConnection, task_id: str) -> dict[str, Any] | None:
    row = (
        (await conn.execute(select(video_tasks).where(video_tasks.c.id == task_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def get_owned(conn: AsyncConnection, task_id: str, user_id: str) -> dict[str, Any] | None:
    """The user's task, None when it is another user's, deleted or unknown (the same 404)."""
    query = select(video_tasks).where(
        and_(
            video_tasks.c.id == task_id,
            video_tasks.c.user_id == user_id,
            video_tasks.c.deleted_at.is_(None),
        )
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_owned(
    conn: AsyncConnection, user_id: str, *, limit: int, after: str | None, newest_first: bool
) -> list[dict[str, Any]]:
    """A page of the user's tasks (``limit`` + 1 rows: the extra one says there are more),
    after the task ``after`` in the chosen order."""
    where = [video_tasks.c.user_id == user_id, video_tasks.c.deleted_at.is_(None)]
    order = (video_tasks.c.created_at, video_tasks.c.id)
    if after is not None:
        anchor = await get_owned(conn, after, user_id)
        if anchor is not None:
            at, ident = anchor["created_at"], anchor["id"]
            if newest_first:
                where.append(
                    or_(
                        video_tasks.c.created_at < at,
                        and_(video_tasks.c.created_at == at, video_tasks.c.id < ident),
                    )
                )
            else:
                where.append(
                    or_(
                        video_tasks.c.created_at > at,
                        and_(video_tasks.c.created_at == at, video_tasks.c.id > ident),
                    )
                )
    columns = [c.desc() for c in order] if newest_first else list(order)
    query = select(video_tasks).where(and_(*where)).order_by(*columns).limit(limit + 1)
    return [dict(row) for row in (await conn.execute(query)).mappings().all()]


async def submitted(
    conn: AsyncConnection,
    task_id: str,
    *,
    upstream_id: str,
    channel_id: str,
    key_hash: str,
    at: int,
    next_poll_at: int,
) -> bool:
    """The upstream took the task: its creation's lease is freed and polling starts at
    ``next_poll_at``. False when the task was closed meanwhile (its money is back)."""
    result = await conn.execute(
        update(video_tasks)
        .where(and_(video_tasks.c.id == task_id, _OPEN))
        .values(
            upstream_id=upstream_id,
            channel_id=channel_id,
            key_hash=key_hash,
            status="queued",
            updated_at=at,
            next_poll_at=next_poll_at,
            lease_owner=None,
            lease_until=0,
        )
    )
    return bool(result.rowcount)


async def open_reserved(conn: AsyncConnection, token_id: str) -> int:
    """What a key's open tasks have reserved (spent against its quota until they close)."""
    query = select(func.coalesce(func.sum(video_tasks.c.reserved), 0)).where(
        and_(video_tasks.c.token_id == token_id, _OPEN)
    )
    return int((await conn.execute(query)).scalar_one())


async def due(conn: AsyncConnection, now: int, limit: int) -> Sequence[str]:
    """Open tasks whose next poll is due and whose lease has run out (or was never taken)."""
    query = (
        select(video_tasks.c.id)
        .where(and_(_OPEN, video_tasks.c.next_poll_at <= now, video_tasks.c.lease_until < now))
        .order_by(video_tasks.c.next_poll_at)
        .limit(limit)
    )
    return [row[0] for row in (await conn.execute(query)).all()]


async def claim(
    conn: AsyncConnection, task_id: str, owner: str, now: int, lease_seconds: int
) -> dict[str, Any] | None:
    """Take the task's lease if it is free; the row when taken, None when another poller
    has it or it is closed."""
    result = await conn.execute(
        update(video_tasks)
        .where(and_(video_tasks.c.id == task_id, _OPEN, video_tasks.c.lease_until < now))
        .values(lease_owner=owner, lease_until=now + lease_seconds)
    )
    if not result.rowcount:
        return None
    return await get(conn, task_id)


async def reschedule(
    conn: AsyncConnection,
    task_id: str,
    owner: str,
    *,
    status: str,
    progress: int,
    next_poll_at: int,
    at: int,
) -> None:
    """Record a poll that found the task still running and free its lease."""
    await conn.execute(
        update(video_tasks)
        .where(and_(video_tasks.c.id == task_id, video_tasks.c.lease_owner == owner, _OPEN))
        .values(
            status=status,
            progress=progress,
            next_poll_at=next_poll_at,
            polls=video_tasks.c.polls + 1,
            lease_owner=None,
            lease_until=0,
            updated_at=at,
        )
    )


async def close(
    conn: AsyncConnection, task_id: str, values: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Close the task's money (``values``: its final status, cost...) if still open: the
    row as it was before, or None when it was closed already (nothing more to do)."""
    row = await get(conn, task_id)
    if row is None or row["settled_at"] is not None:
        return None
    result = await conn.execute(
        update(video_tasks)
        .where(and_(video_tasks.c.id == task_id, _OPEN))
        .values(lease_owner=None, lease_until=0, **values)
    )
    return row if result.rowcount else None


async def mark_deleted(conn: AsyncConnection, task_id: str, at: int) -> None:
    await conn.execute(
        update(video_tasks).where(video_tasks.c.id == task_id).values(deleted_at=at, updated_at=at)
    )


async def prune_finished(conn: AsyncConnection, cutoff: int, batch: int = 1000) -> int:
    """Delete tasks whose money closed before ``cutoff`` (succeeded, failed, cancelled or
    timed out: their charge lives on in the usage rows and rollups), ``batch`` rows per
    transaction, committing each. An open task is never deleted, whatever its age: its
    reservation is still held. Idempotent, so every instance may run it at once. Pass a
    connection from ``engine.connect()``. How many went."""
    deleted = 0
    finished = and_(video_tasks.c.settled_at.is_not(None), video_tasks.c.settled_at < cutoff)
    while True:
        oldest = (
            select(video_tasks.c.id).where(finished).order_by(video_tasks.c.settled_at).limit(batch)
        )
        result = await conn.execute(video_tasks.delete().where(video_tasks.c.id.in_(oldest)))
        await conn.commit()
        count = int(result.rowcount)
        deleted += count
        if count < batch:
            return deleted
