"""The limit stage over each backend: exact counts per minute and per day, tokens reserved
and corrected, calls in flight, the scopes (key, group, model, default), and the headers.
The Redis backend runs against a real Redis (skipped with the reason when none answers,
mandatory in CI)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.records import channel_record
from support.redis_server import require_redis

from airelay.errors import GatewayError
from airelay.relay import limit_memory
from airelay.relay.limit_memory import MemoryCounters
from airelay.relay.limit_policy import duration, reset, reset_duration, rules
from airelay.relay.limits import NO_LEASE, Counters, Lease, RateLimits
from airelay.store.redis_scripts import Client
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot


def snapshot(rate_limits: dict[str, Any] | None = None) -> Snapshot:
    return Snapshot(
        keys={},
        admin_hashes=frozenset(),
        channels=(),
        routes={},
        endpoint_routes={},
        known_models=frozenset(),
        catalog={},
        prices={},
        group_multipliers={},
        rate_limits=rate_limits or {},
    )


def key(user: str | None = None, group: str = "default", **limits: int | None) -> KeyRecord:
    fields: dict[str, Any] = {"rpm": None, "tpm": None, **limits}
    return KeyRecord(
        id="tok_" + uuid.uuid4().hex,
        key_hash="",
        user_id=user or "usr_" + uuid.uuid4().hex,
        name="k",
        status="active",
        user_status="active",
        user_group=group,
        expires_at=None,
        permissions=frozenset({"chat"}),
        models=None,
        ip_networks=None,
        quota=None,
        **fields,
    )


def make(backend: str) -> Counters:
    if backend == "memory":
        return MemoryCounters()
    from airelay.relay.limit_redis import RedisCounters

    # "redis": the pipelined client; "redis-py": the library, its fallback. 2 s to connect
    # and answer: under the whole suite's load a first connection took longer than 0.2 s.
    client: Client = "redis-py" if backend == "redis-py" else "pipelined"
    return RedisCounters(require_redis(), client, timeout=2.0)


def on_backends(
    *backends: str, setup: Callable[[Counters], Coroutine[Any, Any, object]] | None = None
) -> Callable[[Callable[[Counters], Coroutine[Any, Any, None]]], Callable[[str], None]]:
    """A test body run once on each of ``backends``, in an event loop of its own, after
    ``setup``."""

    def decorate(body: Callable[[Counters], Coroutine[Any, Any, None]]) -> Callable[[str], None]:
        @pytest.mark.parametrize("backend", backends)
        def test(backend: str) -> None:
            async def main() -> None:
                counters = make(backend)
                try:
                    if setup is not None:
                        await setup(counters)
                    await body(counters)
                finally:
                    await counters.close()

            asyncio.run(main())

        test.__name__ = body.__name__
        return test

    return decorate


#: A test body on every backend.
each_backend = on_backends("memory", "redis", "redis-py")


async def drain(counters: Counters) -> None:
    """Wait for the background give-backs of the Redis backend."""
    sync = getattr(counters, "sync", None)
    if sync is not None:
        await sync()


def clear_of_minute_edge(margin: float = 5.0) -> None:
    """Fixed windows reset on the minute: a test that counts within one waits for a fresh
    minute when fewer than ``margin`` seconds are left in this one."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


async def refused(
    stage: RateLimits, snap: Snapshot, record: KeyRecord, body: int = 4
) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await stage.acquire(snap, record, "m", body)
    return caught.value


@each_backend
async def test_requests_per_minute_exact(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=5)
    seen: list[str] = []
    for _ in range(5):
        lease = await stage.acquire(snap, record, "m", 40)
        seen.append(lease.headers["x-ratelimit-remaining-requests"])
        lease.settle(10)
    assert seen == ["4", "3", "2", "1", "0"]
    assert lease.headers["x-ratelimit-limit-requests"] == "5"
    error = await refused(stage, snap, record)
    assert error.status == 429
    retry = int(error.headers["Retry-After"])
    assert 1 <= retry <= 60
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.headers["x-ratelimit-reset-requests"] == duration(retry)
    assert "5 requests per minute" in error.message
    # A refused call is not counted: another key of the same user is not touched either.
    other = await stage.acquire(snap, key(user=record.user_id, rpm=5), "m", 4)
    assert other.headers["x-ratelimit-remaining-requests"] == "4"


@each_backend
async def test_tokens_reserved_then_corrected(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(tpm=100)
    first = await stage.acquire(snap, record, "m", 200)  # 50 tokens reserved
    assert first.headers["x-ratelimit-remaining-tokens"] == "50"
    second = await stage.acquire(snap, record, "m", 200)  # 100 reserved: the window is full
    assert second.headers["x-ratelimit-remaining-tokens"] == "0"
    error = await refused(stage, snap, record, body=4)
    assert error.status == 429 and "tokens per minute" in error.message
    first.settle(10)  # the real usage replaces the estimate: 40 tokens come back
    second.release()  # nothing used: all 50 come back
    await drain(counters)
    third = await stage.acquire(snap, record, "m", 360)  # 90 estimated: 10 + 90 = 100
    assert third.headers["x-ratelimit-remaining-tokens"] == "0"
    third.settle(200)  # more than reserved: the window counts the real 210
    await drain(counters)
    error = await refused(stage, snap, record, body=4)
    assert error.headers["x-ratelimit-remaining-tokens"] == "0"


@each_backend
async def test_estimate_above_the_limit_passes_alone(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(tpm=10)
    lease = await stage.acquire(snap, record, "m", 4000)  # 1000 estimated, capped at 10
    assert lease.headers["x-ratelimit-remaining-tokens"] == "0"
    await refused(stage, snap, record)


@each_backend
async def test_calls_in_flight(counters: Counters) -> None:
    stage, snap, record = RateLimits(counters), snapshot(), key(max_concurrency=2)
    one = await stage.acquire(snap, record, "m", 4)
    two = await stage.acquire(snap, record, "m", 4)
    error = await refused(stage, snap, record)
    assert error.status == 429 and error.headers["Retry-After"] == "1"
    assert "2 concurrent calls" in error.message
    one.release()
    one.release()  # a lease ends once: a second end frees nothing more
    await drain(counters)
    three = await stage.acquire(snap, record, "m", 4)
    await refused(stage, snap, record)
    two.settle(5)
    three.settle(5)
    await drain(counters)
    for _ in range(2):
        await stage.acquire(snap, record, "m", 4)


@each_backend
async def test_group_limit_holds_per_user_across_keys(counters: Counters) -> None:
    clear_of_minute_edge()
    stage = RateLimits(counters)
    snap = snapshot({"groups": {"free": {"requests_per_minute": 2}}})
    user = "usr_" + uuid.uuid4().hex
    await stage.acquire(snap, key(user=user, group="free"), "m", 4)
    await stage.acquire(snap, key(user=user, group="free"), "m", 4)
    error = await refused(stage, snap, key(user=user, group="free"))
    assert "your user group" in error.message
    # Another user of the group has a count of their own; a user of another group none.
    await stage.acquire(snap, key(group="free"), "m", 4)
    for _ in range(3):
        await stage.acquire(snap, key(user=user, group="paid"), "m", 4)


@each_backend
async def test_model_limit_and_default(counters: Counters) -> None:
    clear_of_minute_edge()
    stage = RateLimits(counters)
    model = "m-" + uuid.uuid4().hex
    snap = snapshot({"requests_per_minute": 3, "models": {model: {"requests_per_minute": 1}}})
    record = key()
    await stage.acquire(snap, record, model, 4)
    error = await refused_on(stage, snap, record, model)
    assert "this model" in error.message
    # The default (3 per key) still counts the other models.
    await stage.acquire(snap, record, "other", 4)
    await stage.acquire(snap, record, "other", 4)
    error = await refused_on(stage, snap, record, "other")
    assert error.headers["x-ratelimit-limit-requests"] == "3"
    # A key's own limit wins over the default; 0 is no limit.
    unlimited = key(rpm=0)
    for _ in range(5):
        lease = await stage.acquire(snap, unlimited, "other", 4)
    assert "x-ratelimit-limit-requests" not in lease.headers


async def refused_on(
    stage: RateLimits, snap: Snapshot, record: KeyRecord, model: str
) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await stage.acquire(snap, record, model, 4)
    assert caught.value.status == 429
    return caught.value


@each_backend
async def test_requests_per_day(counters: Counters) -> None:
    stage = RateLimits(counters)
    snap = snapshot({"requests_per_day": 2, "requests_per_minute": 100})
    record = key()
    await stage.acquire(snap, record, "m", 4)
    lease = await stage.acquire(snap, record, "m", 4)
    # The headers show the counter with the least left: the day's.
    assert lease.headers["x-ratelimit-limit-requests"] == "2"
    error = await refused(stage, snap, record)
    assert int(error.headers["Retry-After"]) > 0
    assert "per day" in error.message


@each_backend
async def test_no_rules_no_lease(counters: Counters) -> None:
    lease = await RateLimits(counters).acquire(snapshot(), key(), "m", 4)
    assert lease.headers == {}


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_memory_window_resets_on_the_minute() -> None:
    asyncio.run(_memory_window_resets_on_the_minute())


async def _memory_window_resets_on_the_minute() -> None:
    clock = _Clock(1_000_040.0)  # 20 s into a minute
    stage, snap, record = RateLimits(MemoryCounters(clock)), snapshot(), key(rpm=1)
    lease = await stage.acquire(snap, record, "m", 4)
    assert lease.headers["x-ratelimit-reset-requests"] == "40s"
    error = await refused(stage, snap, record)
    assert error.headers["Retry-After"] == "40"
    clock.now += 40
    await stage.acquire(snap, record, "m", 4)


def test_memory_sweep_forgets_passed_windows_and_keeps_slots_in_flight() -> None:
    asyncio.run(_memory_sweep())


async def _memory_sweep() -> None:
    clock = _Clock(1_000_020.0)
    counters = MemoryCounters(clock)
    stage, snap = RateLimits(counters), snapshot()
    held = key(rpm=100, max_concurrency=1)
    lease = await stage.acquire(snap, held, "m", 4)  # holds the one slot across the sweep
    once = key(rpm=5)
    await stage.acquire(snap, once, "m", 4)  # a key seen once
    clock.now += 60  # its window passes
    other = key(rpm=10**9)
    for _ in range(limit_memory.SWEEP_EVERY):
        (await stage.acquire(snap, other, "m", 4)).release()
    names = set(counters._cells)
    assert not any(name.startswith("k:" + once.id) for name in names), names
    assert "k:" + held.id + ":cc" in names  # a slot still held is never forgotten
    error = await refused(stage, snap, held)
    assert "1 concurrent calls" in str(error)
    lease.release()  # freed after the sweep: the key's next call passes
    (await stage.acquire(snap, held, "m", 4)).release()
    # Another backend's list: each backend keeps its own cells.
    second = RateLimits(MemoryCounters(clock))
    (await second.acquire(snap, once, "m", 4)).release()
    assert "k:" + once.id + ":rpm" not in counters._cells


def test_duration_format() -> None:
    show: Callable[[float], str] = duration
    assert [show(0.2), show(1), show(59.5), show(60), show(360), show(3723)] == [
        "1s",
        "1s",
        "1m0s",
        "1m0s",
        "6m0s",
        "1h2m3s",
    ]


@settings(max_examples=300, deadline=None)
@given(
    window=st.sampled_from([60, 86_400]),
    now=st.floats(min_value=0, max_value=4e9, allow_nan=False) | st.integers(0, 4 * 10**9),
)
def test_reset_duration_is_duration_of_reset(window: int, now: float) -> None:
    # Twice, as a call's headers ask (the second from the per-second cache).
    assert reset_duration(window, now) == duration(reset(window, now))
    assert reset_duration(window, now) == duration(reset(window, now))


def test_rules_name_every_scope() -> None:
    snap = snapshot(
        {
            "requests_per_minute": 10,
            "tokens_per_minute": 1000,
            "requests_per_day": 500,
            "max_concurrency": 4,
            "groups": {"free": {"requests_per_minute": 2, "max_concurrency": 1}},
            "models": {"big": {"tokens_per_minute": 50}},
        }
    )
    names = [rule.name.split(":")[-1] for rule in rules(snap, key(group="free"), "big")]
    assert names == ["rpm", "tpm", "rpd", "cc", "requests_per_minute", "cc", "tokens_per_minute"]


@each_backend
async def test_lease_ended_twice_counts_once(counters: Counters) -> None:
    stage, snap, record = RateLimits(counters), snapshot(), key(max_concurrency=1)
    lease: Lease = await stage.acquire(snap, record, "m", 4)
    lease.settle(3)
    lease.release()
    await drain(counters)
    await stage.acquire(snap, record, "m", 4)
    await refused(stage, snap, record)


def channel(**limits: int) -> ChannelRecord:
    return channel_record(base_url="http://127.0.0.1:9", **limits)


@each_backend
async def test_channel_limits(counters: Counters) -> None:
    clear_of_minute_edge()
    stage = RateLimits(counters)
    assert await stage.admit_channel(channel(), 4) is NO_LEASE  # no limits: nothing counted
    limited = channel(rpm=2, tpm=30, max_concurrency=1)
    first = await stage.admit_channel(limited, 40)  # 10 tokens reserved
    assert first is not None
    assert await stage.admit_channel(limited, 4) is None  # its one slot is taken
    first.settle(25)
    await drain(counters)
    second = await stage.admit_channel(limited, 40)  # 25 + 10 > 30 tokens
    assert second is None
    second = await stage.admit_channel(limited, 16)  # 25 + 4
    assert second is not None
    second.release()
    await drain(counters)
    assert await stage.admit_channel(limited, 4) is None  # 2 requests this minute


def unreachable(body: Callable[[RateLimits, bool], Coroutine[Any, Any, None]]) -> None:
    """``body`` run on a limit stage whose Redis does not answer, failing closed (True),
    then open."""

    async def main() -> None:
        from airelay.relay.limit_redis import RedisCounters

        for failure in ("closed", "open"):
            counters = RedisCounters("redis://127.0.0.1:1/0")  # nothing listens there
            try:
                await body(RateLimits(counters, failure), failure == "closed")
            finally:
                await counters.close()

    asyncio.run(main())


async def refused_503(*checks: Coroutine[Any, Any, object]) -> None:
    for check in checks:
        with pytest.raises(GatewayError) as caught:
            await check
        assert caught.value.status == 503
        assert caught.value.headers["Retry-After"] == "1"


def test_channel_limits_when_redis_is_down() -> None:
    async def body(stage: RateLimits, closed: bool) -> None:
        limited = channel(rpm=5)
        if closed:
            await refused_503(
                stage.admit_channel(limited, 4), stage.acquire(snapshot(), key(rpm=5), "m", 4)
            )
        else:
            assert await stage.admit_channel(limited, 4) is NO_LEASE
            assert await stage.acquire(snapshot(), key(rpm=5), "m", 4) is NO_LEASE

    unreachable(body)


def test_deferred_takes_when_redis_is_down() -> None:
    """A deferred key take that cannot reach Redis: closed refuses with 503 (alone or with
    the channel's), open lets the call pass with nothing counted."""

    async def body(stage: RateLimits, closed: bool) -> None:
        limited = channel(rpm=5)
        alone = await stage.acquire(snapshot(), key(rpm=5), "m", 4, defer=True)
        paired = await stage.acquire(snapshot(), key(rpm=5), "m", 4, defer=True)
        assert alone.deferred and paired.deferred
        if closed:
            await refused_503(stage.confirm(alone), stage.admit_channel(limited, 4, paired))
        else:
            await stage.confirm(alone)
            assert await stage.admit_channel(limited, 4, paired) is NO_LEASE
        # Either way the leases hold nothing, and ending them gives nothing back.
        assert not alone.deferred and not paired.deferred
        alone.release()
        paired.release()

    unreachable(body)


@each_backend
async def test_slot_freed_before_the_tokens_are_counted(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(max_concurrency=1, tpm=100)
    lease = await stage.acquire(snap, record, "m", 200)  # 50 tokens reserved
    lease.free()  # the call is over; its usage is still being counted
    lease.free()
    await drain(counters)
    second = await stage.acquire(snap, record, "m", 40)  # the slot is free: 50 + 10
    assert second.headers["x-ratelimit-remaining-tokens"] == "40"
    second.release()
    lease.settle(5)  # tokens only: the slot is not given back twice
    await drain(counters)
    third = await stage.acquire(snap, record, "m", 40)
    assert third.headers["x-ratelimit-remaining-tokens"] == "85"
    await refused(stage, snap, record)  # the one slot is third's


@each_backend
async def test_key_and_channel_taken_together(counters: Counters) -> None:
    clear_of_minute_edge()
    snap, record = snapshot(), key(rpm=2)
    key_rules, channel_rules_ = rules(snap, record, "m"), rules(snap, key(rpm=1), "m")
    # Both under their limits: both counted.
    first, second = await counters.take_both(key_rules, channel_rules_, 1)
    assert first.allowed and second is not None and second.allowed
    assert (first.used, second.used) == ([1], [1])
    # The second at its limit: the first is counted alone.
    first, second = await counters.take_both(key_rules, channel_rules_, 1)
    assert first.allowed and first.used == [2]
    assert second is not None and not second.allowed and second.used == [1]
    # The first at its limit: nothing is counted, the second is not even judged.
    fresh = rules(snap, key(rpm=5), "m")
    first, second = await counters.take_both(key_rules, fresh, 1)
    assert not first.allowed and second is None
    assert (await counters.take(fresh, 1)).used == [1]


@each_backend
async def test_deferred_key_take_comes_with_the_channel(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=1, max_concurrency=3)
    limited = channel(rpm=10, max_concurrency=5)
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    # Only a backend over the network defers (in-process, the take costs nothing).
    assert lease.deferred is (not isinstance(counters, MemoryCounters))
    channel_lease = await stage.admit_channel(limited, 4, lease)
    assert channel_lease is not None and not lease.deferred
    assert lease.headers["x-ratelimit-remaining-requests"] == "0"
    # Over the key's limit: 429 (at once in-process), and the channel counts nothing.
    with pytest.raises(GatewayError) as caught:
        over = await stage.acquire(snap, record, "m", 4, defer=True)
        await stage.admit_channel(limited, 4, over)
    assert caught.value.status == 429
    assert caught.value.headers["x-ratelimit-remaining-requests"] == "0"
    lease.release()
    channel_lease.release()
    await drain(counters)
    # The channel counted one call of its 10 per minute, its slot in flight given back.
    for _ in range(9):
        admitted = await stage.admit_channel(limited, 4)
        assert admitted is not None
        admitted.release()
    assert await stage.admit_channel(limited, 4) is None


@each_backend
async def test_deferred_key_take_confirmed_alone(counters: Counters) -> None:
    clear_of_minute_edge()
    stage, snap, record = RateLimits(counters), snapshot(), key(rpm=1)
    lease = await stage.acquire(snap, record, "m", 4, defer=True)
    await stage.confirm(lease)  # no channel with limits: the key's take alone
    assert not lease.deferred and lease.headers["x-ratelimit-remaining-requests"] == "0"
    await stage.confirm(lease)  # once
    assert await stage.admit_channel(channel(), 4, lease) is NO_LEASE
    # A channel without limits of its own: the key's take is made alone.
    with pytest.raises(GatewayError) as caught:
        over = await stage.acquire(snap, record, "m", 4, defer=True)
        await stage.admit_channel(channel(), 4, over)
    assert caught.value.status == 429
