"""Grants on the Redis rate-limit counters (``limit_lease``): calls far from a limit taken
with no round trip, never a limit passed (one instance or two), small limits counted call
by call, ends given back to the grant and the grant back to Redis when idle, a grant that
dies with its connection. Against a real Redis (skipped with the reason when none answers,
mandatory in CI)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis
from support.redis_server import RedisProcess, require_redis

from airelay.relay import limit_lease
from airelay.relay.limit_cells import LEASE_CALLS, LEASE_SHARE
from airelay.relay.limit_lease import EDGE_MS, Leases
from airelay.relay.limit_policy import MINUTE, Rule, RuleList
from airelay.relay.limit_redis import PREFIX, RedisCounters

from .test_limits_counters import clear_of_minute_edge

Body = Callable[[RedisCounters, redis.Redis], Coroutine[Any, Any, None]]


def counters_test(own: bool = False) -> Callable[[Body], Callable[[], None]]:
    """A test body run in an event loop of its own, with the counters of one instance (on
    the test Redis, or with ``own`` on a Redis of the test's own: one whose connections
    it cuts) and a client to read them with."""

    def decorate(body: Body) -> Callable[[], None]:
        def test() -> None:
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(RedisProcess()).url if own else require_redis()
                client = redis.Redis.from_url(url)
                stack.callback(client.close)
                asyncio.run(_run(body, RedisCounters(url), client))

        test.__name__ = body.__name__
        return test

    return decorate


async def _run(body: Body, counters: RedisCounters, client: redis.Redis) -> None:
    try:
        await body(counters, client)
    finally:
        await counters.close()


def minute_rule(limit: int, kind: str = "requests") -> Rule:
    return Rule(f"k:lease-{uuid.uuid4().hex}:{kind}", kind, MINUTE, limit)


def in_flight_rule(limit: int) -> Rule:
    return Rule(f"k:lease-{uuid.uuid4().hex}:cc", "concurrency", 0, limit)


def count(client: redis.Redis, rule: Rule) -> int:
    """The counter's value in Redis, all windows together."""
    names = client.keys(PREFIX + rule.name + ("*" if rule.window else ""))
    return sum(int(value or 0) for value in client.mget(names)) if names else 0


@counters_test()
async def test_calls_far_from_the_limit_take_from_a_grant(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    rule = minute_rule(1000)
    rules = RuleList([rule])
    first = await counters.take(rules, 10)
    assert first.allowed and first.used == [1]
    # No call on the counter lately: the call is counted alone, and asks for nothing.
    assert count(client, rule) == 1
    assert counters.take_local(rules, 10) is None
    second = await counters.take(rules, 10)
    grant = (1000 - 2) // LEASE_SHARE
    assert second.allowed and second.used == [2]
    assert count(client, rule) == 2 + grant  # the grant is counted in Redis at once
    for made in range(grant):
        taken = counters.take_local(rules, 10)
        assert taken is not None and taken.allowed
        assert taken.used == [3 + made]  # the headers' count: this instance's calls
    assert counters.take_local(rules, 10) is None  # the grant is used up
    assert count(client, rule) == 2 + grant  # and no call went to Redis meanwhile


@counters_test()
async def test_one_instance_never_passes_the_limit(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    rule = minute_rule(200)
    rules = RuleList([rule])
    allowed = [(await counters.take(rules, 1)).allowed for _ in range(260)]
    # Grants shrink near the limit, to nothing: the last calls are counted one by one.
    assert allowed == [True] * 200 + [False] * 60
    assert count(client, rule) == 200


@counters_test()
async def test_two_instances_pass_exactly_the_limit(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    rule = minute_rule(300)
    other = RedisCounters(require_redis())  # a second instance
    # Each instance makes its own rule list, as each process does.
    pair = [(counters, RuleList([rule])), (other, RuleList([rule]))]
    try:
        allowed = [(await pair[i % 2][0].take(pair[i % 2][1], 1)).allowed for i in range(400)]
        # An instance may be refused while the other still holds a few calls of its grant,
        # which that one then uses: together they pass the limit exactly, never more.
        assert sum(allowed) == 300
        assert not any(allowed[320:])
        assert count(client, rule) == 300
    finally:
        await other.close()


@counters_test()
async def test_small_limits_are_counted_call_by_call(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    small, large = minute_rule(LEASE_SHARE * 2 - 1), minute_rule(10_000)
    await counters.take(RuleList([small]), 1)
    assert count(client, small) == 1
    assert counters.take_local(RuleList([small]), 1) is None
    # A list with one such counter is counted in Redis whole: no grant on the others.
    both = RuleList([large, small])
    await counters.take(both, 1)
    assert counters.take_local(both, 1) is None
    assert (count(client, large), count(client, small)) == (1, 2)


@counters_test()
async def test_a_token_grant_follows_what_calls_really_use(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """A call that reserved 10 tokens and used 100: the grant the next call brings is
    sized on the 100; what the call used beyond its reserve is sent with that take."""
    clear_of_minute_edge()
    rule = minute_rule(10**8, "tokens")
    rules = RuleList([rule])
    first = await counters.take(rules, 10)
    counters.give_back(first, rules, 90, 0)
    await counters.sync()
    assert count(client, rule) == 10  # the 90 more wait for the next take
    await counters.take(rules, 10)
    await counters.sync()  # (the debt went first, on a connection lost meanwhile after)
    assert count(client, rule) == 100 + 10 + 100 * LEASE_CALLS  # not 10 * LEASE_CALLS


@counters_test()
async def test_ends_go_to_the_grant_and_back_to_redis(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    tokens, slots = minute_rule(100_000, "tokens"), in_flight_rule(1000)
    rules = RuleList([tokens, slots])
    warm = await counters.take(rules, 50)  # a first call: counted alone, and ended
    counters.give_back(warm, rules, -50, -1)
    first = await counters.take(rules, 50)
    token_grant = min(50 * LEASE_CALLS, (100_000 - 50) // LEASE_SHARE)
    slot_grant = min(LEASE_CALLS, (1000 - 1) // LEASE_SHARE)
    assert (count(client, tokens), count(client, slots)) == (50 + token_grant, 1 + slot_grant)
    second = counters.take_local(rules, 50)
    assert second is not None
    # Both end: 30 and 45 tokens used (50 reserved each), their slots freed, in-process.
    counters.give_back(first, rules, 30 - 50, -1)
    counters.give_back(second, rules, 45 - 50, -1)
    await counters.sync()
    assert (count(client, tokens), count(client, slots)) == (50 + token_grant, 1 + slot_grant)
    # The grants go back (as when idle, or at the end): Redis holds what was used.
    counters.trim()
    await counters.sync()
    assert (count(client, tokens), count(client, slots)) == (75, 0)


def test_an_idle_grant_goes_back_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limit_lease, "TRIM_SECONDS", 0.1)

    @counters_test()
    async def body(counters: RedisCounters, client: redis.Redis) -> None:
        clear_of_minute_edge()
        rule = minute_rule(1000)
        for _ in range(2):
            await counters.take(RuleList([rule]), 1)
        assert count(client, rule) > 2
        deadline = time.monotonic() + 10
        while count(client, rule) != 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)

    body()


@counters_test()
async def test_a_changed_limit_gives_its_old_grant_back_at_once(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """The operator lowers a key's limit: the grant sized for the old one goes back with
    the first call under the new one, not a second later (it would count against it)."""
    clear_of_minute_edge()
    rule = minute_rule(1000)
    for _ in range(2):
        await counters.take(RuleList([rule]), 1)
    assert count(client, rule) == 2 + (1000 - 2) // LEASE_SHARE
    lowered = RuleList([Rule(rule.name, rule.kind, rule.window, 100)])
    assert (await counters.take(lowered, 1)).allowed
    await counters.sync()
    assert count(client, rule) == 3


@counters_test()
async def test_closing_gives_the_grants_back(counters: RedisCounters, client: redis.Redis) -> None:
    clear_of_minute_edge()
    rule = minute_rule(1000)
    for _ in range(2):
        await counters.take(RuleList([rule]), 1)
    assert count(client, rule) > 2
    await counters.close()
    assert count(client, rule) == 2


def scripts_run(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0)) + int(
        stats.get("cmdstat_eval", {}).get("calls", 0)
    )


async def granted_minute(counters: RedisCounters, limit: int) -> tuple[Rule, RuleList]:
    """A rule of calls per minute and its list, after the two calls that bring the list a
    grant (the second asks: the first made its counter's call lately); clear of a
    minute's edge."""
    clear_of_minute_edge()
    rule = minute_rule(limit)
    rules = RuleList([rule])
    for _ in range(2):
        await counters.take(rules, 1)
    return rule, rules


@counters_test(own=True)
async def test_calls_short_of_a_grant_together_ask_once(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """Twenty calls find the grant used up at once, the next one asked for (early, as the
    grant ran low) and not in yet: they wait for it and take from it (each asking too ran
    a script per call). On a Redis of the test's own, so that its scripts can be
    counted."""
    rule, rules = await granted_minute(counters, 10**6)
    before, counted = scripts_run(client), count(client, rule)
    while counters.take_local(rules, 1) is not None:  # (no await: no answer comes in)
        pass
    taken = await asyncio.gather(*(counters.take(rules, 1) for _ in range(20)))
    assert all(t.allowed for t in taken)
    assert scripts_run(client) - before == 1
    assert count(client, rule) - counted == LEASE_CALLS  # one grant; no call in Redis


@counters_test(own=True)
async def test_a_grant_running_low_asks_for_the_next_while_it_lasts(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """Past three quarters of its grant, a call has the next grant asked for in a take that
    counts no call, once, and goes on: the calls after it never find the grant used up."""
    rule, rules = await granted_minute(counters, 10**6)
    before, counted = scripts_run(client), count(client, rule)
    assert counted == 2 + LEASE_CALLS
    for _ in range(LEASE_CALLS * 3 // 4 + 4):  # past 3/4 of the grant, no answer in yet
        assert counters.take_local(rules, 1) is not None
    await counters.sync()
    assert scripts_run(client) - before == 1  # asked for once
    assert count(client, rule) == counted + LEASE_CALLS  # a grant, and no call counted
    for _ in range(LEASE_CALLS):  # what was left of the first grant, and 3/4 of the next
        assert counters.take_local(rules, 1) is not None
        await asyncio.sleep(0)
    await counters.sync()
    assert count(client, rule) == counted + 2 * LEASE_CALLS  # and again, in time
    assert scripts_run(client) - before == 2


@counters_test(own=True)
async def test_an_early_ask_refused_lets_the_grant_run_out_first(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """The counter at its limit in Redis (other instances' calls): the early ask gets
    nothing, and the calls take what is left of the grant without asking again; then
    they are counted in Redis, and refused."""
    limit = 10_000
    rule, rules = await granted_minute(counters, limit)
    (name,) = client.keys(PREFIX + rule.name + ":*")
    client.incrby(name, limit - count(client, rule))  # the rest used elsewhere
    before = scripts_run(client)
    left = 0
    while counters.take_local(rules, 1) is not None:
        left += 1
        await asyncio.sleep(0)
    await counters.sync()
    assert left == LEASE_CALLS
    assert scripts_run(client) - before == 1  # the early ask, once
    assert not (await counters.take(rules, 1)).allowed
    assert count(client, rule) == limit


@counters_test(own=True)
async def test_tokens_ended_beyond_their_estimate_ask_for_the_next_grant_early(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """Calls that reserve a token and use 350 take most of a token grant at their ends:
    the end that leaves less than a quarter of the grant has the next one asked for, as a
    take would."""
    clear_of_minute_edge()
    rule = minute_rule(10**8, "tokens")
    rules = RuleList([rule])
    for _ in range(2):
        done = await counters.take(rules, 200)
        counters.give_back(done, rules, 0, 0)
    before, counted = scripts_run(client), count(client, rule)
    grant = counted - 400
    assert grant == 200 * LEASE_CALLS
    low, per_call = grant // 4, 350
    calls = (grant - low - 1) // per_call  # those whose takes and ends leave enough
    for _ in range(calls):
        taken = counters.take_local(rules, 1)
        assert taken is not None
        counters.give_back(taken, rules, per_call - 1, 0)
    taken = counters.take_local(rules, 1)
    assert taken is not None
    assert grant - calls * per_call - 1 >= low  # this take leaves a quarter
    await counters.sync()
    assert scripts_run(client) == before
    counters.give_back(taken, rules, per_call - 1, 0)
    assert grant - (calls + 1) * per_call < low  # its end does not
    await counters.sync()
    assert scripts_run(client) - before == 1
    assert count(client, rule) > counted  # the next grant; the calls were not counted


@counters_test(own=True)
async def test_calls_waiting_for_a_grant_do_not_hang_when_redis_goes_silent(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """The grant twenty calls wait for never comes (Redis paused): every call fails with
    the counters' failure within the client's timeout, none waits for ever."""
    _, rules = await granted_minute(counters, 10**6)
    while counters.take_local(rules, 1) is not None:
        pass
    client.execute_command("CLIENT", "PAUSE", 2000, "ALL")
    try:
        calls = [counters.take(rules, 1) for _ in range(20)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert all(isinstance(r, Exception) and counters.failed(r) for r in results), results


@counters_test(own=True)
async def test_a_grant_dies_with_its_connection(
    counters: RedisCounters, client: redis.Redis
) -> None:
    """On a Redis of the test's own: its connections are cut."""
    clear_of_minute_edge()
    rule = minute_rule(1000)
    rules = RuleList([rule])
    for _ in range(2):
        await counters.take(rules, 1)
    assert counters.take_local(rules, 1) is not None
    client.client_kill_filter(_type="normal", skipme=True)
    await asyncio.sleep(0.1)  # the connection's end is read
    # Redis may have restarted and lost the grant: it is not used, and the next call
    # goes to Redis (on a new connection) again.
    assert counters.take_local(rules, 1) is None
    taken = await counters.take(rules, 1)
    assert taken.allowed
    assert counters.take_local(rules, 1) is not None


@counters_test()
async def test_leases_off_and_the_library_client_count_each_call(
    counters: RedisCounters, client: redis.Redis
) -> None:
    clear_of_minute_edge()
    url = require_redis()
    for each in (RedisCounters(url, leases=False), RedisCounters(url, "redis-py")):
        rule = minute_rule(1000)
        rules = RuleList([rule])
        try:
            for _ in range(3):
                assert (await each.take(rules, 1)).allowed
                assert each.take_local(rules, 1) is None
            assert count(client, rule) == 3
        finally:
            await each.close()


def test_a_grant_is_for_its_window_and_not_its_last_moments() -> None:
    asyncio.run(_a_grant_is_for_its_window())


async def _a_grant_is_for_its_window() -> None:
    holder = object()
    sent: list[tuple[int, list[tuple[str, int, int]]]] = []
    leases = Leases(lambda: holder, lambda now, changes: sent.append((now, list(changes))))
    rule = minute_rule(1000)
    cells = leases.cells([PREFIX + rule.name], [rule])
    window = MINUTE * 1000
    start = 29_000_000 * window
    used = [1]
    leases.granted(cells, used, [31], 1, start + 1000, holder)

    def fits(holder: object, now: int) -> bool:
        taken = leases.take(cells, 1, holder, now)
        if taken is None:
            return False
        leases.give_back([(cells[0], -1)], now)  # (back to the grant)
        return True

    assert fits(holder, start + 2000)
    assert not fits(object(), start + 2000)  # another connection's
    assert fits(holder, start + window - EDGE_MS - 1)
    assert not fits(holder, start + window - EDGE_MS)
    assert not fits(holder, start + window + 1000)  # the next window
    # An end in the next window goes to Redis, named by its own window.
    assert leases.give_back([(cells[0], -1)], start + window + 1000) == [
        (PREFIX + rule.name, window, -1)
    ]
    assert sent == []
    leases.close()  # the grant goes back, to its own window
    assert sent == [(start, [(PREFIX + rule.name, window, -31)])]


def test_a_grant_moved_to_another_window_is_checked_again() -> None:
    asyncio.run(_a_grant_moved_to_another_window())


async def _a_grant_moved_to_another_window() -> None:
    # A list's cells, once checked, are not checked again until their window's end: unless
    # one of them moved meanwhile (here, an answer from a Redis whose clock went back).
    holder = object()
    leases = Leases(lambda: holder, lambda now, changes: None)
    rule = minute_rule(1000)
    cells = leases.cells([PREFIX + rule.name], [rule])
    window = MINUTE * 1000
    start = 29_000_000 * window
    leases.granted(cells, [1], [31], 1, start + window + 1000, holder)
    assert leases.take(cells, 1, holder, start + window + 2000) is not None
    leases.granted(cells, [1], [31], 1, start + 1000, holder)  # the window before
    assert leases.take(cells, 1, holder, start + window + 3000) is None
    assert leases.take(cells, 1, holder, start + 2000) is not None
    leases.close()


@pytest.mark.parametrize("way", ["give_back", "end"])
def test_ends_beyond_what_a_grant_keeps_go_back_in_one_change(way: str) -> None:
    asyncio.run(_ends_beyond_what_a_grant_keeps(way))


async def _ends_beyond_what_a_grant_keeps(way: str) -> None:
    # Calls counted in Redis (those that ask for grants) free their slots in flight into
    # the grant: past what it keeps, half of that stays and the rest goes back at once,
    # not a change per call's end.
    holder = object()
    leases = Leases(lambda: holder, lambda now, changes: None)
    rule = Rule("k:t:cc", "concurrency", 0, 1_000_000)
    cells = leases.cells([PREFIX + rule.name], [rule])
    leases.granted(cells, [1], [64], 1, 1_000_000, holder)
    now = 1_000_001
    assert leases.take(cells, 1, holder, now) is not None  # (a call from the grant)
    assert leases.end(cells, 0, -1, now) == []

    def ended() -> list[tuple[str, int, int]]:
        if way == "end":
            return leases.end(cells, 0, -1, now)
        return leases.give_back([(cells[0], -1)], now)

    keep = 128
    ends = [ended() for _ in range(keep)]
    assert ends[: keep - 64] == [[]] * (keep - 64)  # up to what it keeps: in-process
    assert ends[keep - 64] == [(PREFIX + rule.name, 0, -(keep // 2 + 1))]
    assert ends[keep - 63 :] == [[]] * 63
    assert cells[0].allowance == keep // 2 + 63
    leases.close()
