"""Helpers shared by the management-API tests: the contract's error shape, a chat call with
a user key, a route (channel + key) to call through, and a look at the raw database."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from fakes.openai_upstream import FakeOpenAI
from sqlalchemy.engine import make_url
from support.admin import Admin, unique_model

UPSTREAM_KEY = "sk-upstream-test"


def expect_error(response: httpx.Response, status: int) -> str:
    """Assert ``status`` with the body ``{"error": {"message", "type", "code"}}`` and an
    ``x-request-id``; return the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-request-id"), dict(response.headers)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    return str(error["message"])


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers.get("x-request-id")
    return response.json()


def chat(base_url: str, key: str, model: str) -> httpx.Response:
    """One small non-streaming chat completion with a user key (a fresh connection)."""
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=20,
    )


@dataclass
class Route:
    """A model served by a channel to the fake upstream, and a user key that may call it."""

    model: str
    key: str
    token: dict[str, Any]
    user: dict[str, Any]
    channel: dict[str, Any]


def make_route(admin: Admin, upstream: FakeOpenAI, *, models: int = 1) -> Route:
    names = [unique_model("admin") for _ in range(models)]
    channel = admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[UPSTREAM_KEY], models=names
    )
    # A balance, so that the calls pass once the gateway bills them.
    user = admin.create_user(balance=10)
    token = admin.create_token(user["id"])
    return Route(model=names[0], key=token["key"], token=token, user=user, channel=channel)


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def table_dump(database_url: str, table: str) -> str:
    """Every row of ``table`` as text, read straight from the database (no gateway)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        conn = sqlite3.connect(url.database)
        try:
            rows: list[Any] = conn.execute(f"SELECT * FROM {table}").fetchall()
        finally:
            conn.close()
        return repr(rows)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def fetch() -> str:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            records = await conn.fetch(f"SELECT * FROM {table}")
        finally:
            await conn.close()
        return repr([tuple(record.values()) for record in records])

    return asyncio.run(fetch())
