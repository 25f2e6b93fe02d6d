"""Session bindings: scoped by user and model, renewed by each turn, gone after the TTL,
bounded in number; the bound channel first with its key; shared through a real Redis, and
calls that go on without it when it is down."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio
from support.records import channel_record
from support.redis_server import require_redis

from airelay.relay.affinity import (
    Affinity,
    Binding,
    SessionCall,
    open_affinity,
    open_session,
    session_id,
)
from airelay.relay.routing import bound_first
from airelay.store.redis_scripts import Client, open_scripts
from airelay.store.snapshot import ChannelRecord

T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def channel(name: str, keys: tuple[str, ...] = ("k0", "k1", "k2")) -> ChannelRecord:
    return channel_record(id=name, name=name, base_url="http://x/v1", api_keys=keys)


def run(make: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await make()

    return asyncio.run(main())


def test_sessions_are_scoped_by_user_and_model() -> None:
    one = session_id("user-a", "m", "k:conv")
    assert one == session_id("user-a", "m", "k:conv") and len(one) == 16
    assert one != session_id("user-b", "m", "k:conv")
    assert one != session_id("user-a", "other-model", "k:conv")
    assert one != session_id("user-a", "m", "k:conv2")
    # No key can spell another scope.
    assert session_id("a", "m:x", "k") != session_id("a", "m", ":xk")
    assert session_id("a", "m\0x", "k") != session_id("a", "m", "x\0k")


def test_a_binding_lives_ttl_seconds_after_the_last_turn() -> None:
    clock = Clock()
    affinity = Affinity(60, clock=clock)
    session = session_id("u", "m", "k:1")
    assert affinity.get(session) is None
    affinity.bind(session, Binding("ch1", 1))
    clock.now += 50
    assert affinity.get(session) == Binding("ch1", 1)  # renews: 60 s from now
    clock.now += 50
    assert affinity.get(session) == Binding("ch1", 1)
    clock.now += 60
    assert affinity.get(session) is None
    assert len(affinity) == 0  # an expired entry is dropped when read


def test_the_number_of_bindings_is_bounded_least_recently_used_first() -> None:
    affinity = Affinity(60, max_sessions=3, clock=Clock())
    sessions = [session_id("u", "m", f"k:{n}") for n in range(4)]
    for n, session in enumerate(sessions[:3]):
        affinity.bind(session, Binding(f"ch{n}", 0))
    assert affinity.get(sessions[0]) is not None  # now the most recently used
    affinity.bind(sessions[3], Binding("ch3", 0))
    assert len(affinity) == 3
    assert affinity.get(sessions[1]) is None  # the least recently used went
    assert affinity.get(sessions[0]) == Binding("ch0", 0)
    affinity.bind(sessions[0], Binding("moved", 2))  # a move is no new entry
    assert len(affinity) == 3 and affinity.get(sessions[0]) == Binding("moved", 2)


def test_ttl_zero_turns_affinity_off() -> None:
    assert open_affinity(0, None) is None
    affinity = open_affinity(30, None)
    assert affinity is not None and not affinity.shared and affinity.ttl == 30


def test_bound_channel_goes_first_and_the_rest_keep_their_order() -> None:
    chans = [channel("a"), channel("b"), channel("c")]
    assert [c.id for c in bound_first(list(chans), "c")] == ["c", "a", "b"]
    assert [c.id for c in bound_first(list(chans), "a")] == ["a", "b", "c"]
    # A channel that no longer serves the model (or is disabled) is not in the list.
    assert [c.id for c in bound_first(list(chans), "gone")] == ["a", "b", "c"]


def test_the_bound_channel_gets_the_bound_key() -> None:
    affinity = Affinity(60, clock=Clock())
    a, b = channel("a"), channel("b")
    call = SessionCall(affinity, session_id("u", "m", "k:1"), Binding("a", 2))
    assert [call.key(a) for _ in range(3)] == [("k2", True)] * 3
    key, bound = call.key(b)
    assert not bound and key in b.api_keys
    # The bound key was removed from the channel: its next key, still the bound channel.
    shrunk = channel("a", keys=("k0",))
    assert call.key(shrunk) == ("k0", True)


def test_a_call_served_elsewhere_moves_the_binding() -> None:
    affinity = Affinity(60, clock=Clock())
    session = session_id("u", "m", "k:1")
    affinity.bind(session, Binding("a", 1))
    call = SessionCall(affinity, session, affinity.get(session))
    call.served(channel("a"), "k1")
    assert affinity.get(session) == Binding("a", 1)
    call.served(channel("b"), "k2")
    assert affinity.get(session) == Binding("b", 2)


def test_open_session_in_process() -> None:
    affinity = Affinity(60)
    call = run(lambda: open_session(affinity, "u", "m", "k:1"))
    assert call.bound is None
    call.served(channel("a"), "k0")
    again = run(lambda: open_session(affinity, "u", "m", "k:1"))
    assert again.bound == Binding("a", 0)
    assert run(lambda: open_session(affinity, "other-user", "m", "k:1")).bound is None


# ---- shared through Redis


#: The clients' timeout in these tests: a loaded test machine can take longer than the
#: gateway's 0.2 s to connect (redis-py's connection handshake is several round trips),
#: and these tests are about what is shared, not about timeouts.
LOADED_SECONDS = 2.0


@pytest.fixture(scope="module")
def redis_url() -> str:
    return require_redis()


async def _settle(affinity: Affinity) -> None:
    """Wait for the background writes."""
    for _ in range(100):
        if not affinity._tasks:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("client", ["pipelined", "redis-py"])
def test_a_binding_is_seen_by_another_instance(redis_url: str, client: Client) -> None:
    async def main() -> None:
        first, second = (
            Affinity(60, redis=open_scripts(redis_url, client, LOADED_SECONDS)),
            Affinity(60, redis=open_scripts(redis_url, client, LOADED_SECONDS)),
        )
        user = uuid.uuid4().hex
        try:
            call = await open_session(first, user, "m", "k:conv")
            assert call.bound is None
            call.served(channel("a"), "k1")
            await _settle(first)
            seen = await open_session(second, user, "m", "k:conv")
            assert seen.bound == Binding("a", 1)
            assert second.get(seen.session) == Binding("a", 1)  # kept in-process since
            # A move on the second instance reaches Redis; the first picks it up when it
            # re-reads the shared binding (in the background, at most every ttl / 4 s).
            seen.served(channel("b"), "k0")
            await _settle(second)
            assert second.redis is not None
            raw = await second.redis.call(b"GET", b"airelay:affinity:" + seen.session)
            assert raw == b"0:b"
            ttl = await second.redis.call(b"PTTL", b"airelay:affinity:" + seen.session)
            assert 55_000 < ttl <= 60_000
        finally:
            await first.close()
            await second.close()

    run(main)


def test_a_busy_session_renews_the_shared_binding_and_adopts_moves(redis_url: str) -> None:
    async def main() -> None:
        clock = Clock()
        # Re-reads every 2 s.
        first = Affinity(8, redis=open_scripts(redis_url, timeout=LOADED_SECONDS), clock=clock)
        other = redis.asyncio.Redis.from_url(redis_url)
        user = uuid.uuid4().hex
        try:
            call = await open_session(first, user, "m", "k:conv")
            call.served(channel("a"), "k0")
            await _settle(first)
            key = b"airelay:affinity:" + call.session
            await other.pexpire(key, 500)  # about to expire in Redis
            clock.now += 2.5
            assert first.get(call.session) == Binding("a", 0)
            await _settle(first)
            assert await other.pttl(key) > 7000  # renewed to the full TTL
            await other.delete(key)  # expired in Redis: put back
            clock.now += 2.5
            first.get(call.session)
            await _settle(first)
            assert await other.get(key) == b"0:a"
            await other.set(key, b"1:b", px=8000)  # another instance moved it
            clock.now += 2.5
            assert first.get(call.session) == Binding("a", 0)  # this call: as it was
            await _settle(first)
            assert first.get(call.session) == Binding("b", 1)  # the next: adopted
        finally:
            await first.close()
            await other.aclose()

    run(main)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_calls_go_on_in_process_when_redis_is_down() -> None:
    async def main() -> None:
        affinity = Affinity(60, redis=open_scripts(f"redis://127.0.0.1:{_closed_port()}/0"))
        try:
            started = time.perf_counter()
            call = await open_session(affinity, "u", "m", "k:conv")
            assert call.bound is None
            call.served(channel("a"), "k1")
            # Bound in-process all the same; Redis left alone for a while after the failure.
            assert not affinity._up()
            again = await open_session(affinity, "u", "m", "k:conv")
            assert again.bound == Binding("a", 1)
            fresh = await open_session(affinity, "u", "m", "k:other")
            assert fresh.bound is None
            assert time.perf_counter() - started < 1.0
        finally:
            await affinity.close()

    run(main)


def test_an_unreadable_shared_value_is_no_binding(redis_url: str) -> None:
    async def main() -> None:
        affinity = Affinity(60, redis=open_scripts(redis_url, timeout=LOADED_SECONDS))
        other = redis.asyncio.Redis.from_url(redis_url)
        session = session_id(uuid.uuid4().hex, "m", "k:x")
        try:
            await other.set(b"airelay:affinity:" + session, b"garbage", px=5000)
            assert await affinity.fetch(session) is None
        finally:
            await affinity.close()
            await other.aclose()

    run(main)
