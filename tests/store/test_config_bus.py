"""Configuration changes reach other instances through Redis pub/sub, not only the poll:
two gateways on one PostgreSQL database and one Redis, each polling only once a minute, so
that whatever reaches the other instance within seconds came over the bus. Without Redis,
or with Redis gone, the poll still delivers."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from support.admin import Admin, unique_model
from support.databases import create_postgres_database, drop_postgres_database
from support.gateway import Gateway
from support.redis_server import require_redis

from airelay.security.crypto import SecretBox
from airelay.security.keys import hash_key
from airelay.store import tokens, users
from airelay.store.config_bus import ConfigBus
from airelay.store.db import create_engine
from airelay.store.migrate import upgrade
from airelay.store.snapshot import ConfigCache

SLOW_POLL = 60.0  # seconds: the poll cannot be what delivers a change in these tests
BOX = SecretBox("test-secret")


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def pair(
    postgres: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, Gateway]]:
    redis_url = require_redis()
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = {"config_poll_seconds": SLOW_POLL, "redis_url": redis_url}
    with Gateway(postgres, data_dir, **settings) as a, Gateway(postgres, data_dir, **settings) as b:
        yield a, b


def _until(check: object, seconds: float) -> float:
    """Seconds until ``check()`` holds (polled every 5 ms); fails after ``seconds``."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - start > seconds:
            pytest.fail(f"not reached within {seconds} s")
        time.sleep(0.005)
    return time.monotonic() - start


def test_a_key_revoked_through_one_instance_is_refused_by_the_other(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    admin_a = Admin(a.url, a.admin_key)
    try:
        user = admin_a.create_user(balance=1)
        token = admin_a.create_token(user["id"])
        key = {"Authorization": f"Bearer {token['key']}"}
        with httpx.Client(timeout=5) as client:
            # The new key itself reached B over the bus (B polls once a minute).
            _until(lambda: client.get(f"{b.url}/v1/models", headers=key).status_code == 200, 5)
            response = client.delete(
                f"{a.url}/v1/admin/tokens/{token['id']}",
                headers={"Authorization": f"Bearer {a.admin_key}"},
            )
            assert response.status_code in (200, 204)
            took = _until(
                lambda: client.get(f"{b.url}/v1/models", headers=key).status_code == 401, 5
            )
        # The contract's figure is 100 ms; a loaded test machine gets some slack, the poll
        # (a minute) none.
        assert took < 2.0
    finally:
        admin_a.close()


def test_a_channel_added_through_one_instance_is_used_by_the_other(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    admin_a = Admin(a.url, a.admin_key)
    try:
        token = admin_a.create_token()
        key = {"Authorization": f"Bearer {token['key']}"}
        model = unique_model("bus")
        with httpx.Client(timeout=5) as client:
            _until(lambda: client.get(f"{b.url}/v1/models", headers=key).status_code == 200, 5)
            admin_a.create_channel(
                base_url="http://127.0.0.1:9/v1", api_keys=["sk-x"], models=[model]
            )

            def listed() -> bool:
                answer = client.get(f"{b.url}/v1/models", headers=key).json()
                return any(entry["id"] == model for entry in answer["data"])

            _until(listed, 5)
    finally:
        admin_a.close()


def test_without_a_message_the_poll_still_catches_up(postgres: str) -> None:
    """A bus whose Redis is unreachable: the write is not lost, the poll delivers it."""
    upgrade(postgres)

    async def scenario() -> None:
        engine = create_engine(postgres)
        dead = ConfigBus("redis://127.0.0.1:1/0", reconnect_seconds=0.05)
        writer = ConfigCache(engine, BOX, 3600, dead)
        reader = ConfigCache(engine, BOX, 0.05)
        try:
            await writer.start()
            await reader.start()
            digest = await _new_key(engine)
            await writer.refresh()  # publishing fails quietly; the write stands
            for _ in range(200):
                if digest in reader.current.keys:
                    break
                await asyncio.sleep(0.01)
            assert digest in reader.current.keys
        finally:
            await writer.stop()
            await reader.stop()
            await engine.dispose()

    asyncio.run(scenario())


def test_two_caches_on_one_bus_catch_up_on_the_changed_entity_alone(postgres: str) -> None:
    redis_url = require_redis()
    upgrade(postgres)

    async def scenario() -> None:
        engine = create_engine(postgres)
        writer = ConfigCache(engine, BOX, 3600, ConfigBus(redis_url))
        reader = ConfigCache(engine, BOX, 3600, ConfigBus(redis_url))
        try:
            await writer.start()
            await reader.start()
            await asyncio.sleep(0.2)  # both subscribed
            first = await _new_key(engine)  # puts the reader's version on the change log
            await writer.refresh()
            for _ in range(300):
                if first in reader.current.keys:
                    break
                await asyncio.sleep(0.01)
            assert first in reader.current.keys
            loads = reader.full_loads
            second = await _new_key(engine)
            await writer.refresh()
            for _ in range(300):
                if second in reader.current.keys:
                    break
                await asyncio.sleep(0.01)
            assert second in reader.current.keys
            assert reader.full_loads == loads  # the entity alone, not a full reload
        finally:
            await writer.stop()
            await reader.stop()
            await engine.dispose()

    asyncio.run(scenario())


async def _new_key(engine: AsyncEngine) -> str:
    """A new user with a key, written as the management API writes them; its hash."""
    digest = hash_key(f"sk-bus-{secrets.token_hex(8)}")
    async with engine.begin() as conn:
        owner = await users.create(conn, email=None)
        await tokens.create_for_user(
            conn,
            owner["id"],
            {"name": "bus", "key_hash": digest, "key_hint": "sk-...", "permissions": ["chat"]},
        )
    return digest
