"""A pub/sub subscription on the RESP client (and on redis-py, its fallback): messages
delivered in order, a silent connection found out by its PING, a lost Redis raised, and a
password from the URL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from support.quiet_server import quiet_server
from support.redis_server import RedisProcess, require_redis

from airelay.store import redis_subscriber
from airelay.store.redis_subscriber import Subscription, messages
from airelay.store.resp import Pipelined, ReplyError


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


async def publish_until_heard(url: str, channel: bytes, payloads: list[bytes]) -> None:
    """Publish ``payloads`` once someone listens on ``channel``."""
    publisher = redis.asyncio.Redis.from_url(url)
    try:
        for _ in range(200):
            if (await publisher.pubsub_numsub(channel))[0][1]:
                break
            await asyncio.sleep(0.01)
        for payload in payloads:
            await publisher.publish(channel, payload)
    finally:
        await publisher.aclose()


async def first(gen: AsyncGenerator[bytes, None], n: int) -> list[bytes]:
    got = []
    async for data in gen:
        got.append(data)
        if len(got) == n:
            break
    await gen.aclose()
    return got


@pytest.mark.parametrize("library", [False, True])
def test_messages_arrive_in_order(library: bool) -> None:
    url = require_redis()
    channel = b"airelay:test:" + uuid.uuid4().hex.encode()
    payloads = [b"v%d" % i for i in range(20)]

    async def body() -> None:
        subscribed: list[bool] = []
        if library:  # the fallback, which a rediss:// URL takes
            gen = redis_subscriber._library_messages(
                url, channel, 2.0, lambda: subscribed.append(True)
            )
        else:
            gen = messages(url, channel, 2.0, lambda: subscribed.append(True))
        heard = asyncio.ensure_future(first(gen, len(payloads)))
        await publish_until_heard(url, channel, payloads)
        assert await asyncio.wait_for(heard, 5) == payloads
        assert subscribed == [True]

    run(body)


@pytest.fixture
def mute_after_subscribe() -> Iterator[int]:
    """A server that confirms a SUBSCRIBE, then never answers anything again."""
    with quiet_server(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n") as port:
        yield port


def test_a_silent_connection_is_found_out_by_its_ping(mute_after_subscribe: int) -> None:
    async def body() -> None:
        url = f"redis://127.0.0.1:{mute_after_subscribe}"
        gen = messages(url, b"c", 0.2, idle=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await gen.__anext__()
        # idle (0.2 s), then the PING's timeout (0.2 s)
        assert 0.3 < loop.time() - started < 2.0

    run(body)


def test_a_ping_answered_keeps_the_subscription() -> None:
    url = require_redis()
    channel = b"airelay:test:" + uuid.uuid4().hex.encode()

    async def body() -> None:
        subscription = await Subscription.open(url, channel, 1.0)
        try:
            waiting = asyncio.ensure_future(subscription.message(idle=0.05))
            await asyncio.sleep(0.3)  # several idle PINGs, each answered
            assert not waiting.done()
            await publish_until_heard(url, channel, [b"after pings"])
            assert await asyncio.wait_for(waiting, 5) == b"after pings"
        finally:
            subscription.close()

    run(body)


def test_redis_lost_ends_the_messages_with_an_error() -> None:
    with RedisProcess() as server:

        async def body() -> None:
            subscribed = asyncio.Event()
            gen = messages(server.url, b"c", 1.0, subscribed.set)
            heard = asyncio.ensure_future(gen.__anext__())
            await asyncio.wait_for(subscribed.wait(), 5)
            server.kill()
            with pytest.raises(OSError):
                await asyncio.wait_for(heard, 5)
            with pytest.raises(OSError):  # nothing listens any more
                await messages(server.url, b"c", 0.5).__anext__()

        run(body)


def test_password_from_the_url() -> None:
    with RedisProcess() as server:

        async def body() -> None:
            admin = Pipelined(server.url, 1.0)
            await admin.call(b"CONFIG", b"SET", b"requirepass", b"s3cret")
            await admin.close()
            with pytest.raises(ReplyError):
                await messages(server.url, b"c", 1.0).__anext__()
            url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
            subscription = await Subscription.open(url, b"c", 1.0)
            try:
                waiting = asyncio.ensure_future(subscription.message())
                publisher = redis.asyncio.Redis.from_url(url)
                await publisher.publish(b"c", b"hello")
                await publisher.aclose()
                assert await asyncio.wait_for(waiting, 5) == b"hello"
            finally:
                subscription.close()

        run(body)


GATEWAY_SCRIPT = """
import sys
from pathlib import Path

import httpx
from support.admin import Admin
from support.console import Console, new_email, open_registration
from support.gateway import Gateway

data = Path(sys.argv[1])
with Gateway(f"sqlite:///{data}/g.db", data, redis_url=sys.argv[2]) as gateway:
    assert httpx.get(gateway.url + "/ready").status_code == 200
    admin = Admin(gateway.url, gateway.admin_key)
    open_registration(admin.http)  # a configuration change: published on the bus
    key = admin.create_token(rpm=100)["key"]  # limits in Redis
    httpx.post(gateway.url + "/v1/chat/completions", json={"model": "none"},
               headers={"Authorization": "Bearer " + key})
    Console(gateway.url).sign_in(new_email(), "guess guess")  # the sign-in throttle
print(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis.")))
"""


def test_a_gateway_on_a_redis_url_never_loads_redis_py(tmp_path: Path) -> None:
    """Every use of Redis (limits, the configuration bus, session affinity, readiness, the
    console's sign-in throttle) goes through the RESP client for a redis:// URL."""
    url = require_redis()
    tests = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", GATEWAY_SCRIPT, str(tmp_path), url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tests,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
