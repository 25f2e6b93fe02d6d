"""The limit stage of the relay pipeline: after the caller is known and allowed, before any
money is reserved. A call takes a ``Lease`` on every counter its rules name
(``limit_policy``), all at once or not at all (429 with ``Retry-After``); the lease gives
back what the call did not use when the call ends, exactly once, however it ends: its real
tokens replace the input estimate it reserved, and its slots in flight are freed.

The counters live in one ``Counters`` backend: in-process (``limit_memory``, the default:
one instance's own counts) or Redis (``limit_redis``: one count for every instance that
shares it). When Redis cannot be reached, ``AIRELAY_LIMITS_REDIS_FAILURE`` decides:
``closed`` (the default) refuses calls with 503 and ``Retry-After``, ``open`` lets them
pass uncounted; either way Redis is tried again after ``DOWN_SECONDS``, with no restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from airelay.errors import GatewayError
from airelay.observe.metrics import limit_rejected
from airelay.relay.limit_ahead import Ahead, Sent
from airelay.relay.limit_policy import (
    MINUTE,
    Rule,
    RuleList,
    Taken,
    channel_rules,
    cost,
    input_estimate,
    reset,
    reset_duration,
    rules,
)
from airelay.store.redis_client import TIMEOUT_SECONDS
from airelay.store.redis_scripts import Client
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot

log = logging.getLogger(__name__)

#: How long a backend that failed is left alone before it is tried again.
DOWN_SECONDS = 1.0
FAIL_CLOSED = "closed"
FAIL_OPEN = "open"


class Counters(Protocol):
    async def take(self, rules: RuleList, estimate: int) -> Taken:
        """Count a call with ``estimate`` input tokens against ``rules``
        (``limit_policy.cost``) if no limit would be passed, in one atomic step; else
        count nothing. Raises the backend's failure when it cannot be reached."""
        ...

    async def take_both(
        self, first: RuleList, second: RuleList, estimate: int
    ) -> tuple[Taken, Taken | None]:
        """``take`` of ``first`` and, in the same atomic step and only when ``first`` is
        counted, of ``second`` (a key's rules and its call's first channel's: one round
        trip for both). The second is None when the first was refused."""
        ...

    def give_back(self, taken: Taken, rules: RuleList, tokens: int, inflight: int) -> None:
        """Add ``tokens`` to the token counters ``taken`` counted and ``inflight`` to its
        counts in flight (``limit_policy.delta_of``; mostly negative); never waits."""
        ...

    def take_ahead(self, first: RuleList, second: RuleList, estimate: int) -> Sent | None:
        """``take_both`` (``take`` for ``first`` when ``second`` is empty) written now,
        before the caller next yields to the event loop, its answer to come; None where the
        backend cannot or it is not worth it (in-process, or a busy connection)."""
        ...

    def untake(self, taken: Taken, rules: RuleList, estimate: int) -> None:
        """Take back all that ``taken`` counted (a channel's rules, counted with a call's
        key ahead of its first attempt, when that attempt went elsewhere); never waits."""
        ...

    def failed(self, exc: BaseException) -> bool:
        """Whether ``exc`` is this backend being out of reach (not a bug)."""
        ...

    async def close(self) -> None: ...


class Lease:
    """One call's hold on its counters; ``settle`` or ``release`` ends it (once)."""

    __slots__ = (
        "_concurrency",
        "_counters",
        "_freed",
        "_pending",
        "_reserved",
        "_rules",
        "_taken",
        "_tokens",
        "deferred",
        "estimate",
        "headers",
    )

    def __init__(
        self,
        counters: Counters | None,
        rules: RuleList,
        taken: Taken | None,
        estimate: int,
        headers: dict[str, str],
        plan: _Plan | None = None,
    ) -> None:
        self._counters = counters
        self._rules = rules
        self._taken = taken
        # What the rules count that a call's end changes: tokens, slots in flight.
        self._tokens = plan is not None and plan.tokens
        self._concurrency = plan is not None and plan.concurrency
        self.estimate = estimate  # the input tokens the call reserves
        self._reserved = estimate if self._tokens else 0
        self._freed = False  # its slots in flight given back already (``free``)
        self.headers = headers  # x-ratelimit-* for the client's response
        # Not counted yet: the take comes with the first channel's (``RateLimits``).
        self.deferred = False
        # A deferred take sent ahead (``RateLimits.prefetch``), not awaited yet: the take,
        # the channel rules it counts with the key's, and their channel.
        self._pending: Ahead | None = None

    @property
    def rules(self) -> RuleList:
        return self._rules

    def _counted(self, taken: Taken, headers: dict[str, str]) -> None:
        """The deferred take was made (and allowed)."""
        self.deferred = False
        self._taken = taken
        self.headers = headers

    def _uncounted(self, headers: dict[str, str]) -> None:
        """The deferred take was refused, or could not be made and the gateway fails open:
        the lease holds nothing."""
        self.deferred = False
        self._counters = None
        self.headers = headers

    def settle(self, tokens: int) -> None:
        """The call used ``tokens`` (prompt and answer): they replace the estimate."""
        self._end(tokens)

    def release(self) -> None:
        """The call used nothing: its reserved tokens go back."""
        self._end(0)

    def free(self) -> None:
        """The call is over but its tokens are counted later: its slots in flight go back
        now, the tokens with ``settle``."""
        counters, taken = self._counters, self._taken
        if counters is None or taken is None or self._freed:
            return
        self._freed = True
        if self._concurrency:
            counters.give_back(taken, self._rules, 0, -1)

    def _end(self, tokens: int) -> None:
        if self._pending is not None:  # sent ahead, never awaited: it goes back as it lands
            self._pending.abandon()
            self._pending = None
        counters, taken = self._counters, self._taken
        if counters is None or taken is None:
            return
        self._counters = None
        tokens = tokens - self._reserved if self._tokens else 0
        inflight = -1 if self._concurrency and not self._freed else 0
        if tokens or inflight:
            counters.give_back(taken, self._rules, tokens, inflight)


NO_LEASE = Lease(None, RuleList(), None, 0, {})
_NO_RULES = RuleList()


class Limits(Protocol):
    async def acquire(
        self,
        snapshot: Snapshot,
        record: KeyRecord,
        model: str,
        body_length: int,
        defer: bool = False,
    ) -> Lease:
        """The call's lease, or ``GatewayError`` 429 with ``Retry-After`` when it is over a
        limit (503 when the counters cannot be reached and the gateway fails closed).
        With ``defer``, a backend that counts over the network may leave the lease
        ``deferred``: its take then comes with the first channel's (``admit_channel``)
        or with ``confirm``."""
        ...

    def prefetch(self, lease: Lease, channel: ChannelRecord | None) -> None:
        """Send a deferred lease's take now, with the rules of ``channel`` (the one the
        call will try first), without waiting: ``admit_channel`` or ``confirm`` awaits it,
        so the round trip runs while the call is priced and reserved."""
        ...

    async def confirm(self, lease: Lease) -> None:
        """Make a deferred lease's take now (429 when over a limit); nothing otherwise."""
        ...

    async def admit_channel(
        self, channel: ChannelRecord, body_length: int, key: Lease | None = None
    ) -> Lease | None:
        """A lease on ``channel``'s own limits for one attempt, or None when the channel
        is at a limit (routing skips it). A deferred ``key`` lease is taken first, in the
        same step (429 when it is over a limit: then the channel counts nothing)."""
        ...

    async def close(self) -> None: ...


class NoLimits:
    """The stage without counters: every call passes (tests of other stages)."""

    __slots__ = ()

    async def acquire(
        self,
        snapshot: Snapshot,
        record: KeyRecord,
        model: str,
        body_length: int,
        defer: bool = False,
    ) -> Lease:
        return NO_LEASE

    def prefetch(self, lease: Lease, channel: ChannelRecord | None) -> None:
        return None

    async def confirm(self, lease: Lease) -> None:
        return None

    async def admit_channel(
        self, channel: ChannelRecord, body_length: int, key: Lease | None = None
    ) -> Lease | None:
        return NO_LEASE

    async def close(self) -> None:
        return None


NO_LIMITS = NoLimits()


class RateLimits:
    """The limit stage over one ``Counters`` backend.

    Over the network (Redis), a call's key rules and its first channel's are taken in one
    script: ``acquire(defer=True)`` only works out the key's rules; ``prefetch`` writes the
    take once routing knows the first channel, if the connection is idle (``limit_ahead``),
    and the first ``admit_channel`` awaits it (or ``confirm``, when no channel of the call
    has limits or the call fails before any channel is tried: the 429 still comes before
    any other error). Otherwise the take is made by the first of those. A call that the
    backend's grants to this instance hold (``limit_lease``) is taken at once, as is every
    call in-process: no round trip."""

    __slots__ = ("_counters", "_down_until", "_failure", "_local", "_now", "_refilled")

    def __init__(self, counters: Counters, failure: str = FAIL_CLOSED) -> None:
        self._counters = counters
        # A backend that answers without I/O (in-process) is called without a coroutine.
        self._now: Callable[[RuleList, int], Taken] | None = getattr(counters, "take_now", None)
        # One that counts over the network may answer some calls without it (its grants:
        # ``limit_lease``), or None.
        self._local: Callable[[RuleList, int], Taken | None] | None = getattr(
            counters, "take_local", None
        )
        # ... or once the grant another call asked for is in.
        self._refilled: Callable[[RuleList, int], Awaitable[Taken | None]] | None = getattr(
            counters, "take_refilled", None
        )
        self._failure = failure
        self._down_until = 0.0

    async def acquire(
        self,
        snapshot: Snapshot,
        record: KeyRecord,
        model: str,
        body_length: int,
        defer: bool = False,
    ) -> Lease:
        found = rules(snapshot, record, model)
        if not found:
            return NO_LEASE
        plan = _plan(found)
        estimate = input_estimate(body_length)
        if defer and self._now is None:
            if self._local is not None and not self._down():
                taken = self._local(found, estimate)
                if taken is None and self._refilled is not None:
                    taken = await self._refilled(found, estimate)
                if taken is not None:  # from this instance's grants: counted, and allowed
                    return Lease(self._counters, found, taken, estimate, plan.headers(taken), plan)
            lease = Lease(self._counters, found, None, estimate, {}, plan)
            lease.deferred = True
            return lease
        if self._down():
            return self._unreachable()
        try:
            if self._now is not None:  # in-process: no coroutine to await
                taken = self._now(found, estimate)
            else:
                taken = await self._counters.take(found, estimate)
        except Exception as exc:
            self._failed(exc)
            return self._unreachable()
        self._reached()
        headers = plan.headers(taken)
        if not taken.allowed:
            raise _over(found, estimate, taken, headers)
        return Lease(self._counters, found, taken, estimate, headers, plan)

    def prefetch(self, lease: Lease, channel: ChannelRecord | None) -> None:
        if not lease.deferred or lease._pending is not None or self._down():
            return
        found = _NO_RULES if channel is None else channel_rules(channel)
        sent = self._counters.take_ahead(lease.rules, found, lease.estimate)
        if sent is not None:  # else the first attempt takes it, as without ``prefetch``
            lease._pending = Ahead(self._counters, lease, channel, found, sent)

    async def _claim(self, lease: Lease) -> tuple[Taken, Taken | None, Ahead] | None:
        """The answer of a take sent ahead, and what it was sent with; None when the
        backend could not be reached (the lease then holds nothing)."""
        pending = lease._pending
        assert pending is not None
        lease._pending = None
        try:
            taken, channel_taken = await pending.result()
        except Exception as exc:
            lease._uncounted({})
            self._failed(exc)
            return None
        self._reached()
        return taken, channel_taken, pending

    async def confirm(self, lease: Lease) -> None:
        if not lease.deferred:
            return
        if lease._pending is not None:
            claimed = await self._claim(lease)
            if claimed is None:
                self._unreachable()
                return
            taken, channel_taken, pending = claimed
            if channel_taken is not None and channel_taken.allowed:
                self._counters.untake(channel_taken, pending.rules, lease.estimate)
            self._resolve(lease, taken)
            return
        found = lease.rules
        estimate = lease.estimate
        if self._down():
            lease._uncounted({})
            self._unreachable()
            return
        try:
            taken = await self._counters.take(found, estimate)
        except Exception as exc:
            lease._uncounted({})
            self._failed(exc)
            self._unreachable()
            return
        self._reached()
        self._resolve(lease, taken)

    async def admit_channel(
        self, channel: ChannelRecord, body_length: int, key: Lease | None = None
    ) -> Lease | None:
        found = channel_rules(channel)
        if key is not None and key._pending is not None:
            claimed = await self._claim(key)
            if claimed is None:
                return self._channel_unreachable()
            taken, channel_taken, pending = claimed
            # Joint: the take carried this channel's rules (none for a channel without
            # limits: then it counts nothing, and is admitted below like any such channel).
            joint = (
                bool(pending.rules)
                and pending.channel is not None
                and pending.channel.id == channel.id
            )
            if not joint and channel_taken is not None and channel_taken.allowed:
                # Counted with the key for a channel this attempt skipped: back it goes.
                self._counters.untake(channel_taken, pending.rules, key.estimate)
            self._resolve(key, taken)
            if joint:
                return self._channel_lease(pending.rules, key.estimate, channel_taken)
        elif key is not None and key.deferred:
            if not found:
                await self.confirm(key)
                return NO_LEASE
            return await self._admit_both(key, found, input_estimate(body_length))
        if not found:
            return NO_LEASE
        plan = _plan(found)
        estimate = input_estimate(body_length)
        if self._down():
            return self._channel_unreachable()
        if self._local is not None:  # from this instance's grants: no coroutine to await
            local = self._local(found, estimate)
            if local is not None:
                return Lease(self._counters, found, local, estimate, {}, plan)
        try:
            taken = await self._counters.take(found, estimate)
        except Exception as exc:
            self._failed(exc)
            return self._channel_unreachable()
        if not taken.allowed:
            _count_rejections(found, estimate, taken)
            return None
        return Lease(self._counters, found, taken, estimate, {}, plan)

    async def _admit_both(self, key: Lease, found: RuleList, estimate: int) -> Lease | None:
        """The deferred ``key`` lease and the channel's rules ``found``, in one take."""
        if self._down():
            key._uncounted({})
            return self._channel_unreachable()
        try:
            taken, channel_taken = await self._counters.take_both(key.rules, found, estimate)
        except Exception as exc:
            key._uncounted({})
            self._failed(exc)
            return self._channel_unreachable()
        self._reached()
        self._resolve(key, taken)
        return self._channel_lease(found, estimate, channel_taken)

    def _channel_lease(
        self, found: RuleList, estimate: int, channel_taken: Taken | None
    ) -> Lease | None:
        """The channel's lease from its take with the key's; None when it is at a limit."""
        if channel_taken is None or not channel_taken.allowed:
            if channel_taken is not None:
                _count_rejections(found, estimate, channel_taken)
            return None
        return Lease(self._counters, found, channel_taken, estimate, {}, _plan(found))

    def _resolve(self, lease: Lease, taken: Taken) -> None:
        """A deferred lease's take answered: counted, or 429."""
        found = lease.rules
        headers = _plan(found).headers(taken)
        if not taken.allowed:
            lease._uncounted(headers)
            raise _over(found, lease.estimate, taken, headers)
        lease._counted(taken, headers)

    def _down(self) -> bool:
        return bool(self._down_until) and time.monotonic() < self._down_until

    def _failed(self, exc: Exception) -> None:
        if not self._counters.failed(exc):
            raise exc
        self._down_until = time.monotonic() + DOWN_SECONDS
        log.warning("rate-limit counters unreachable (%s): failing %s", exc, self._failure)

    def _reached(self) -> None:
        if self._down_until:
            self._down_until = 0.0
            log.warning("rate-limit counters reachable again")

    def _channel_unreachable(self) -> Lease:
        """Open: the channel takes the call uncounted; closed: the call is refused (503),
        as the key's limits would refuse it."""
        return self._unreachable()

    def _unreachable(self) -> Lease:
        if self._failure == FAIL_OPEN:
            return NO_LEASE
        raise GatewayError(
            503,
            "Rate limits cannot be checked right now; retry shortly.",
            headers={"Retry-After": str(int(DOWN_SECONDS))},
        )

    async def close(self) -> None:
        await self._counters.close()


def _over(found: RuleList, estimate: int, taken: Taken, headers: dict[str, str]) -> GatewayError:
    """The 429 for the limits the call would pass: ``Retry-After`` is when the last of
    them resets (a call in flight frees its slot at an unknown time: 1 s)."""
    wait = 0.0
    names: list[str] = []
    for rule, used in zip(found, taken.used, strict=True):
        if used + cost(rule, estimate) > rule.limit:
            wait = max(wait, reset(rule.window, taken.now) if rule.window else 1.0)
            names.append(_describe(rule))
    _count_rejections(found, estimate, taken)
    retry = max(1, int(-(-wait // 1)))
    message = "Rate limit exceeded: " + ", ".join(names) + f". Retry after {retry} s."
    return GatewayError(429, message, headers={**headers, "Retry-After": str(retry)})


_SCOPES = {"k": "key", "g": "group", "m": "model", "c": "channel"}


def _count_rejections(found: RuleList, estimate: int, taken: Taken) -> None:
    """The ``airelay_limit_rejections`` metric: each limit the refused call would pass."""
    for rule, used in zip(found, taken.used, strict=True):
        if used + cost(rule, estimate) > rule.limit:
            limit_rejected(_SCOPES[rule.name[0]], _kind(rule))


def _kind(rule: Rule) -> str:
    if rule.kind == "concurrency":
        return "concurrency"
    if rule.kind == "tokens":
        return "tpm"
    return "rpm" if rule.window == MINUTE else "rpd"


def _describe(rule: Rule) -> str:
    scope = {"k": "this API key", "g": "your user group", "m": "this model"}[rule.name[0]]
    if rule.kind == "concurrency":
        return f"{rule.limit} concurrent calls for {scope}"
    per = "minute" if rule.window == 60 else "day"
    return f"{rule.limit} {rule.kind} per {per} for {scope}"


class _Plan:
    """What ``acquire`` needs of one list of rules beyond the rules, worked out once per
    list (the lists are made once per key and model, ``limit_policy.rules``): whether it
    counts tokens and calls in flight, and for the ``x-ratelimit-*`` headers, the rules of
    each kind with their limits as text."""

    __slots__ = ("concurrency", "kinds", "tokens")

    def __init__(self, found: RuleList) -> None:
        self.concurrency = any(rule.kind == "concurrency" for rule in found)
        self.tokens = any(rule.kind == "tokens" for rule in found)
        # Per kind that has rules: its three header names, then (index, limit, limit as
        # text, window) per rule of that kind.
        self.kinds = tuple(
            (
                (
                    "x-ratelimit-limit-" + kind,
                    "x-ratelimit-remaining-" + kind,
                    "x-ratelimit-reset-" + kind,
                ),
                [
                    (i, r.limit, str(r.limit), r.window)
                    for i, r in enumerate(found)
                    if r.kind == kind
                ],
            )
            for kind in ("requests", "tokens")
            if any(rule.kind == kind for rule in found)
        )

    def headers(self, taken: Taken) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*`` headers: for requests and for tokens, the counter
        with the least left."""
        headers: dict[str, str] = {}
        used = taken.used
        for (limit_name, remaining_name, reset_name), members in self.kinds:
            best = members[0]
            best_left = best[1] - used[best[0]]
            for member in members[1:]:  # the first of those with the least left (>= 0)
                if best_left <= 0:
                    break
                left = member[1] - used[member[0]]
                if left < best_left:
                    best, best_left = member, left
            headers[limit_name] = best[2]
            headers[remaining_name] = str(best_left) if best_left > 0 else "0"
            headers[reset_name] = reset_duration(best[3], taken.now)
        return headers


def _plan(found: RuleList) -> _Plan:
    plan: _Plan | None = found.plan
    if plan is None:
        plan = found.plan = _Plan(found)
    return plan


def open_limits(
    redis_url: str | None,
    failure: str = FAIL_CLOSED,
    client: Client = "pipelined",
    leases: bool = True,
    timeout: float = TIMEOUT_SECONDS,
) -> RateLimits:
    """The limit stage of a process: counters in Redis when ``redis_url`` is set (shared by
    every instance, through the Redis ``client`` named, with ``leases`` or not; out of
    reach after ``timeout`` seconds), else in-process."""
    if redis_url:
        from airelay.relay.limit_redis import RedisCounters

        return RateLimits(RedisCounters(redis_url, client, leases, timeout), failure)
    from airelay.relay.limit_memory import MemoryCounters

    return RateLimits(MemoryCounters(), failure)
