"""A deferred take sent ahead of the first attempt (``RateLimits.prefetch``): counted with
the channel the call then tries, given back for a channel it skips, and given back whole
when the call ends or leaves before awaiting it. On a real Redis (both clients), and the
backends' ``take_ahead``/``untake``. Only the pipelined client writes a take ahead (on an
idle connection); redis-py and in-process counters take it at the first attempt."""

from __future__ import annotations

import asyncio

import pytest
import redis
from relay.test_limits_counters import (
    channel,
    clear_of_minute_edge,
    drain,
    key,
    make,
    on_backends,
    snapshot,
)
from support.redis_server import RedisProcess

from airelay.errors import GatewayError
from airelay.relay.limit_policy import RuleList, channel_rules, rules
from airelay.relay.limit_redis import RedisCounters
from airelay.relay.limits import NO_LEASE, Counters, Lease, RateLimits
from airelay.store.snapshot import ChannelRecord


async def _connected(counters: Counters) -> None:
    await counted(counters, channel_rules(limited()))


#: On the pipelined Redis client, connected: a take is written ahead only on a live,
#: idle connection.
on_redis = on_backends("redis", setup=_connected)


def prefetched(stage: RateLimits, lease: Lease, first: ChannelRecord | None) -> None:
    stage.prefetch(lease, first)
    assert lease._pending is not None  # written ahead, not yet awaited


async def counted(counters: Counters, found: RuleList) -> list[int]:
    """What ``found``'s counters hold: read by one more take, taken back at once."""
    await drain(counters)
    taken = await counters.take(found, 0)
    counters.untake(taken, found, 0)
    return [value - (rule.kind != "tokens") for value, rule in zip(taken.used, found, strict=True)]


@pytest.mark.parametrize("backend", ["memory", "redis-py"])
def test_no_take_ahead_where_it_would_gain_nothing(backend: str) -> None:
    async def main() -> None:
        counters = make(backend)
        try:
            first = rules(snapshot(), key(rpm=5), "m")
            await counters.take(first, 0)  # connected
            assert counters.take_ahead(first, RuleList(), 4) is None
        finally:
            await counters.close()

    asyncio.run(main())


@on_redis
async def test_take_ahead_is_a_take_and_untake_takes_it_back(counters: Counters) -> None:
    clear_of_minute_edge()
    snap = snapshot()
    first = rules(snap, key(rpm=5, tpm=100, max_concurrency=3), "m")
    second = channel_rules(channel(rpm=5, max_concurrency=2))
    sent = counters.take_ahead(first, second, 40)
    assert sent is not None
    assert counters.take_ahead(first, second, 40) is None  # the connection is busy now
    await sent.future
    taken, channel_taken = await sent.answer()
    assert taken.allowed and channel_taken is not None and channel_taken.allowed
    assert taken.used == [1, 40, 1] and channel_taken.used == [1, 1]
    alone = counters.take_ahead(first, RuleList(), 40)
    assert alone is not None
    await alone.future
    again, none = await alone.answer()
    assert again.allowed and none is None and again.used == [2, 80, 2]
    counters.untake(again, first, 40)
    counters.untake(taken, first, 40)
    counters.untake(channel_taken, second, 40)
    assert await counted(counters, first) == [0, 0, 0]
    assert await counted(counters, second) == [0, 0]


def limited() -> ChannelRecord:
    return channel(rpm=10, max_concurrency=5)


@on_redis
async def test_the_take_sent_ahead_counts_the_channel_tried(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=2, max_concurrency=2)
    first = limited()
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, lease, first)
    channel_lease = await stage.admit_channel(first, 4, lease)
    assert channel_lease is not None and not lease.deferred
    assert lease.headers["x-ratelimit-remaining-requests"] == "1"
    assert await counted(counters, channel_rules(first)) == [1, 1]
    channel_lease.release()
    lease.release()
    assert await counted(counters, channel_rules(first)) == [1, 0]


@on_redis
async def test_a_channel_skipped_gets_its_count_back(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=2)
    predicted, tried = limited(), limited()
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, lease, predicted)  # its circuit then opens: the attempt goes elsewhere
    channel_lease = await stage.admit_channel(tried, 4, lease)
    assert channel_lease is not None and not lease.deferred
    assert await counted(counters, channel_rules(tried)) == [1, 1]
    assert await counted(counters, channel_rules(predicted)) == [0, 0]


@on_redis
async def test_confirmed_without_a_channel_gives_the_channel_back(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=1)
    predicted = limited()
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, lease, predicted)
    await stage.confirm(lease)  # refused before any attempt (402): the key's 429 first
    assert not lease.deferred and lease.headers["x-ratelimit-remaining-requests"] == "0"
    assert await counted(counters, channel_rules(predicted)) == [0, 0]
    over = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, over, predicted)
    with pytest.raises(GatewayError) as caught:
        await stage.admit_channel(predicted, 4, over)
    assert caught.value.status == 429
    assert await counted(counters, channel_rules(predicted)) == [0, 0]


@on_redis
async def test_a_call_that_ends_before_awaiting_gives_all_back(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap = RateLimits(counters), snapshot()
    record = key(rpm=3, tpm=1000, max_concurrency=2)
    predicted = limited()
    lease = await stage.acquire(snap, record, "m", 40, defer=True)
    prefetched(stage, lease, predicted)
    lease.release()  # e.g. the client left while the call was priced
    await asyncio.sleep(0.2)  # the take lands, then its give-back is sent
    assert await counted(counters, rules(snap, record, "m")) == [0, 0, 0]
    assert await counted(counters, channel_rules(predicted)) == [0, 0]


@on_redis
async def test_a_caller_cancelled_while_awaiting_gives_all_back(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=3, max_concurrency=2)
    predicted = limited()
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, lease, predicted)
    attempt = asyncio.ensure_future(stage.admit_channel(predicted, 4, lease))
    await asyncio.sleep(0)  # awaiting the take
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    lease.release()
    await asyncio.sleep(0.2)
    assert await counted(counters, rules(snap, record, "m")) == [0, 0]
    assert await counted(counters, channel_rules(predicted)) == [0, 0]


def test_redis_silent_after_the_take_was_written() -> None:
    """The answer never comes (Redis paused): the first attempt gets the outage (503 when
    failing closed, the default) once the client's timeout passes."""
    with RedisProcess() as server:
        admin = redis.Redis.from_url(server.url)

        async def main() -> None:
            counters = RedisCounters(server.url)
            try:
                await _connected(counters)
                stage, snap, record = RateLimits(counters), snapshot(), key(rpm=3)
                predicted = limited()
                lease = await stage.acquire(snap, record, "m", 4, defer=True)
                admin.execute_command("CLIENT", "PAUSE", 1000, "ALL")
                prefetched(stage, lease, predicted)
                with pytest.raises(GatewayError) as caught:
                    await stage.admit_channel(predicted, 4, lease)
                assert caught.value.status == 503 and "Retry-After" in caught.value.headers
                lease.release()
            finally:
                admin.execute_command("CLIENT", "UNPAUSE")
                admin.close()
                await counters.close()

        asyncio.run(main())


@on_redis
async def test_a_first_channel_without_limits_is_admitted(counters: Counters) -> None:
    """The take sent ahead with a channel that has no limits of its own is the key's alone;
    that channel is then admitted, not taken for one at its limit."""
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=2)
    unlimited = channel()
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    prefetched(stage, lease, unlimited)
    assert await stage.admit_channel(unlimited, 4, lease) is NO_LEASE
    assert not lease.deferred and lease.headers["x-ratelimit-remaining-requests"] == "1"
