"""Stored Responses API answers (``store: true``): one row per response, readable by its
user until it expires.

A row holds the request's own input items and the whole response object as JSON text; a
continuation (``previous_response_id``) reads the chain of rows back to its first response
in one recursive query. Every read is scoped to the user (another user's id reads as no
row at all) and to rows not yet expired; ``prune`` deletes the expired ones.

Rows are written in batches by ``store.response_writer``, off the request's path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from airelay.formats import responses_history
from airelay.formats.responses_history import Item, Order
from airelay.store import driver
from airelay.store.tables import responses

# A chain longer than this is cut there (a bound on one query's work; ids are issued by the
# gateway, each naming an older response, so a real chain has no cycle).
MAX_CHAIN = 10_000
# The widths of the id and model columns: longer values are refused or cut before a write.
MAX_ID = 64
MAX_MODEL = 200


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    user_id: str
    token_id: str | None
    model: str
    previous_response_id: str | None
    input_items: list[Item]  # the request's own input, a string made one user message
    body: dict[str, Any]  # the whole response object, as answered
    created_at: int
    expires_at: int

    def turn(self) -> responses_history.Turn:
        """What this response contributes to a continuation."""
        return self.input_items, responses_history.output_items(self.body)


class BrokenChain(LookupError):
    """An older response of a chain is gone (deleted, expired, or not written yet)."""

    def __init__(self, missing: str, found: list[StoredResponse]) -> None:
        super().__init__(missing)
        self.missing = missing  # the id no row has
        self.found = found  # the chain down to the response that names it, newest first


@functools.lru_cache(maxsize=2)
def _insert(dialect_name: str) -> Insert:
    """Insert, skipping an id already there: a batch whose COMMIT went through but whose
    reply was lost is written again as it is."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement: Insert = dialect.insert(responses).on_conflict_do_nothing(index_elements=["id"])
    return statement


def _row(stored: StoredResponse) -> dict[str, Any]:
    return {
        "id": stored.id,
        "user_id": stored.user_id,
        "token_id": stored.token_id,
        "model": stored.model,
        "previous_response_id": stored.previous_response_id,
        "input_items": orjson.dumps(stored.input_items).decode(),
        "body": orjson.dumps(stored.body).decode(),
        "created_at": stored.created_at,
        "expires_at": stored.expires_at,
    }


def _stored(row: Any) -> StoredResponse:
    return StoredResponse(
        id=row.id,
        user_id=row.user_id,
        token_id=row.token_id,
        model=row.model,
        previous_response_id=row.previous_response_id,
        input_items=orjson.loads(row.input_items),
        body=orjson.loads(row.body),
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


async def save(conn: AsyncConnection, batch: Sequence[StoredResponse]) -> None:
    """Write a batch of responses in the caller's transaction (one statement, one driver
    trip on SQLite); an id already stored is left as it is."""
    if batch:
        await driver.execute_many(conn, _insert(conn.dialect.name), [_row(s) for s in batch])


def _live(user_id: str, now: int) -> Any:
    return and_(responses.c.user_id == user_id, responses.c.expires_at > now)


async def get(
    conn: AsyncConnection, user_id: str, response_id: str, now: int
) -> StoredResponse | None:
    """The user's response ``response_id`` if it has not expired at ``now``; another
    user's response is None, as an unknown one is."""
    query = select(responses).where(responses.c.id == response_id, _live(user_id, now))
    row = (await conn.execute(query)).first()
    return _stored(row) if row is not None else None


async def delete(conn: AsyncConnection, user_id: str, response_id: str, now: int) -> bool:
    """Delete the user's unexpired response ``response_id``; whether there was one."""
    result = await conn.execute(
        responses.delete().where(responses.c.id == response_id, _live(user_id, now))
    )
    return bool(result.rowcount)


async def chain(
    conn: AsyncConnection, user_id: str, response_id: str, now: int
) -> list[StoredResponse]:
    """The response ``response_id`` and its predecessors, newest first, read in one
    recursive query. Empty when ``response_id`` itself is not the user's or has expired;
    ``BrokenChain`` when an older response of the chain is gone."""
    live = _live(user_id, now)
    columns = list(responses.columns)
    first = (
        select(*columns, literal(0).label("depth"))
        .where(responses.c.id == response_id, live)
        .cte("chain", recursive=True)
    )
    step = (
        select(*columns, (first.c.depth + 1).label("depth"))
        .join(first, responses.c.id == first.c.previous_response_id)
        .where(live, first.c.depth < MAX_CHAIN)
    )
    recursive = first.union_all(step)
    rows = (await conn.execute(select(recursive).order_by(recursive.c.depth))).all()
    found = [_stored(row) for row in rows]
    if found and found[-1].previous_response_id is not None and len(found) <= MAX_CHAIN:
        raise BrokenChain(found[-1].previous_response_id, found)
    return found


async def input_items(
    conn: AsyncConnection,
    user_id: str,
    response_id: str,
    *,
    after: str | None,
    limit: int,
    order: Order,
    now: int,
) -> dict[str, Any] | None:
    """One page of the input items of the user's response, in OpenAI's list shape; None
    when there is no such (unexpired) response of this user."""
    stored = await get(conn, user_id, response_id, now)
    if stored is None:
        return None
    listed = responses_history.listed_items(stored.id, stored.input_items)
    return responses_history.page(listed, after=after, limit=limit, order=order)


async def prune(conn: AsyncConnection, now: int, batch: int = 1000) -> int:
    """Delete responses expired at ``now``, ``batch`` rows per transaction (short locks),
    committing each. Pass a connection from ``engine.connect()``. How many went."""
    deleted = 0
    while True:
        expired = (
            select(responses.c.id)
            .where(responses.c.expires_at <= now)
            .order_by(responses.c.expires_at)
            .limit(batch)
        )
        result = await conn.execute(responses.delete().where(responses.c.id.in_(expired)))
        await conn.commit()
        count = int(result.rowcount)
        deleted += count
        if count < batch:
            return deleted
