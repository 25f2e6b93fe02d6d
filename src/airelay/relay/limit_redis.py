"""The rate-limit counters in Redis (``AIRELAY_REDIS_URL``): every instance that shares the
Redis counts against the same counters, so a limit holds once, not once per instance.

A call far from its limits takes from this instance's grants, with no round trip
(``limit_lease``). Any other call is one round trip: one ``EVALSHA`` of ``TAKE`` checks
every counter of the call and counts it in all of them, or in none, atomically (Redis runs
a script alone), with the grants it asks for. The counters of its key (and user and
model) and of its first channel go in the same script (``take_both``): the channel's are
counted only with the key's, and a channel at its limit leaves the key's counted (the call
goes on to another channel). Windows are fixed and aligned on Redis's own clock (``TIME``),
so instances whose clocks differ still share each window. Ending a call (tokens corrected,
slots in flight freed) gives back to the grant it was taken from, or else is sent without
waiting: the call's answer never waits for it, and every call that ends in one turn of the
event loop (a call's key and its channel, and the others of that turn) goes in one
``EVALSHA`` of ``GIVE_BACK``. The scripts go through ``redis_scripts`` (by default one
pipelined connection per process, whatever the number of calls in flight).

Counters expire on their own: a window's when it has passed, a count in flight after
``INFLIGHT_TTL_SECONDS`` without a new call (what an instance killed mid-call held).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from airelay.relay.limit_cells import LEASE_SHARE, Cell
from airelay.relay.limit_lease import Change, Leases, Refill
from airelay.relay.limit_policy import RuleList, Taken
from airelay.store.redis_client import TIMEOUT_SECONDS
from airelay.store.redis_scripts import Client, Scripts, open_scripts
from airelay.store.resp import Prepared, ReplyError, Script

log = logging.getLogger(__name__)

PREFIX = "airelay:limits:"
#: Channels' rule lists a key's rule list keeps a joint take with, at most.
MAX_PAIRS = 64
#: How long a count of calls in flight outlives the last call that changed it.
INFLIGHT_TTL_SECONDS = 3 * 3600
#: How long closing waits for the grants it gives back to be counted.
CLOSE_SECONDS = 1.0

# The kinds of counter, as the scripts take them.
_KIND = {"requests": 0, "tokens": 1, "concurrency": 2}

# KEYS: the counters' names, without their window: a first group, then a second (empty
# for a plain take). ARGV: the in-flight TTL (ms); how many keys the first group has; each
# key's window in seconds (0: in flight); each key's limit; each key's kind (``_KIND``);
# then the call's input estimate, then the grant each key asks for (``limit_lease``; 0:
# none; all but these are fixed for a list of rules: ``Prepared`` packs them once). A call
# counts 1 against a counter of requests or calls in flight, and its estimate capped at
# the limit against tokens (``limit_policy.cost``). An estimate of -1 counts no call: the
# take only asks for grants (asked early, while the last ones last: ``limit_lease``).
# The first group is counted when none of its counters would pass its limit; the second
# only when the first is counted and none of its own would. Every counter is counted at
# once and the refused group taken back (a counter back at 0 is deleted, as if never
# made): a call that passes, the usual case, costs one INCRBY per counter, not a GET too.
# A refused group's counts are those before the call.
# A counted key that asks is then granted more (``limit_lease``): what it asks for at
# most, and 1/LEASE_SHARE of what it has left; nothing if that is less than the call.
# Returns one string of numbers apart by spaces (one answer to parse): whether the first
# group was counted (0/1), whether the second was, Redis's time in ms (window ids and
# resets follow from it: GIVE_BACK, ``limit_policy.reset``), each key's count (the call
# included, its grant not), then each key's grant.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local split = tonumber(ARGV[2])
local n = #KEYS
local estimate = tonumber(ARGV[3 + 3 * n])
local call = 1
if estimate < 0 then call, estimate = 0, 0 end
local names, used, costs = {}, {}, {}
local first, second = 1, 1
for i = 1, n do
  local window = tonumber(ARGV[2 + i]) * 1000
  local limit = tonumber(ARGV[2 + n + i])
  local cost = call
  if ARGV[2 + 2 * n + i] == '1' then cost = math.min(estimate, limit) end
  local name = KEYS[i]
  if window > 0 then name = name .. ':' .. math.floor(now / window) end
  local count = redis.call('INCRBY', name, cost)
  if window == 0 then
    redis.call('PEXPIRE', name, ttl)
  elseif count == cost then
    redis.call('PEXPIRE', name, window + 1000)
  end
  names[i], costs[i], used[i] = name, cost, count
  if count > limit then
    if i <= split then first = 0 else second = 0 end
  end
end
local from = n + 1
if first == 0 then
  second = 0
  from = 1
elseif second == 0 then
  from = split + 1
end
for i = from, n do
  local count = redis.call('DECRBY', names[i], costs[i])
  if count <= 0 then redis.call('DEL', names[i]) end
  used[i] = count
end
local grants = {}
for i = 1, n do
  local grant = tonumber(ARGV[3 + 3 * n + i])
  if i < from and grant > 0 then
    local most = math.floor((tonumber(ARGV[2 + n + i]) - used[i]) / LEASE_SHARE)
    if grant > most then grant = most end
    if grant > 0 and grant >= costs[i] then redis.call('INCRBY', names[i], grant) else grant = 0 end
  else
    grant = 0
  end
  grants[i] = grant
end
local out = {first, second, now}
for i = 1, n do out[#out + 1] = used[i] end
for i = 1, n do out[#out + 1] = grants[i] end
return table.concat(out, ' ')
""".replace("LEASE_SHARE", str(LEASE_SHARE))

# KEYS: counters, by the names TAKE counted in (windows included). ARGV: what to add to
# each: a call's real tokens less its estimate, -1 for a call in flight that ended. None
# goes below zero: a counter that would is deleted, as one that expired meanwhile and was
# made again by the INCRBY. A positive sum is added only to a counter that still exists
# (one made here would have no expiry). A counter may come more than once.
GIVE_BACK = """
local call = redis.call
for i = 1, #KEYS do
  local name, delta = KEYS[i], tonumber(ARGV[i])
  if delta < 0 then
    if call('INCRBY', name, delta) < 0 then call('DEL', name) end
  elseif call('EXISTS', name) == 1 then
    call('INCRBY', name, delta)
  end
end
return 0
"""
#: Counters one ``GIVE_BACK`` changes at most (more wait for the next).
GIVE_BACK_BATCH = 512

_TAKE = Script.of(TAKE)
_NO_RULES = RuleList()
_GIVE_BACK = Script.of(GIVE_BACK)


def _take(first: RuleList, second: RuleList) -> Prepared:
    both = [*first, *second]
    keys = [PREFIX + rule.name for rule in both]
    windows = [rule.window for rule in both]
    kinds = [_KIND[rule.kind] for rule in both]
    limits = [rule.limit for rule in both]
    fixed = [INFLIGHT_TTL_SECONDS * 1000, len(first), *windows, *limits, *kinds]
    return Prepared.of(_TAKE, keys, fixed, 1 + len(keys))


class _Scripts:
    """A list of rules' scripts, prepared (names, windows, limits and kinds packed once):
    its take, its takes together with other lists (``pair``), and its counters' cells
    (``limit_lease``)."""

    __slots__ = ("_pairs", "cells", "leased", "take")

    def __init__(self, rules: RuleList, leases: Leases) -> None:
        self.take = _take(rules, RuleList())
        self.cells = leases.cells([PREFIX + rule.name for rule in rules], rules)
        # Whether a call can take every counter from grants (none is too small to lease).
        self.leased = leases.enabled and all(cell.lease for cell in self.cells)
        # id of a second list -> (that list, the take of both): a key's rules meet the
        # few channels its calls are routed to.
        self._pairs: dict[int, tuple[RuleList, Prepared]] = {}

    def pair(self, first: RuleList, second: RuleList) -> Prepared:
        entry = self._pairs.get(id(second))
        if entry is not None and entry[0] is second:
            return entry[1]
        if len(self._pairs) >= MAX_PAIRS:
            self._pairs.clear()
        made = _take(first, second)
        self._pairs[id(second)] = (second, made)
        return made


class RedisCounters:
    __slots__ = ("_deltas", "_leases", "_names", "_scripts")

    def __init__(
        self,
        url: str,
        client: Client = "pipelined",
        leases: bool = True,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._scripts: Scripts = open_scripts(url, client, timeout)
        # The give-backs of this turn of the event loop, sent together (``_give_back_now``).
        self._names: list[str] = []
        self._deltas: list[int] = []
        holds = leases and self._scripts.holds
        self._leases = Leases(self._scripts.holder if holds else None, self._queue)

    def _prepare(self, rules: RuleList) -> _Scripts:
        made = rules.prepared
        if not isinstance(made, _Scripts):  # (a list is counted by one backend)
            made = rules.prepared = _Scripts(rules, self._leases)
        return made

    def take_local(self, rules: RuleList, estimate: int) -> Taken | None:
        """The call taken from this instance's grants (``limit_lease``), with no round
        trip; None when they do not hold it (then ``take`` it)."""
        scripts = self._prepare(rules)
        if not scripts.leased:
            return None
        leases = self._leases
        holder = leases.holder()
        if holder is None:
            return None
        now = leases.now()
        cells = scripts.cells
        used = leases.take(cells, estimate, holder, now)
        if used is None:
            return None
        if cells.short:
            self._ask_early(rules, scripts, estimate)
        return Taken(True, used, now / 1000, (scripts, now))

    def _ask_early(self, rules: RuleList, scripts: _Scripts, estimate: int) -> None:
        """Ask for the next grants of a list whose grants run low, in a take that counts
        no call, without waiting: the calls meanwhile take what is left, and those that
        find it used up wait for the answer (``take_refilled``) rather than each run a
        script."""
        leases = self._leases
        cells = scripts.cells
        cells.short = False  # (set again only by a counter short with no grant on its way)
        leases.debts(cells)
        asked: list[Cell] = []
        wants = leases.wanted(cells, estimate, leases.holder(), leases.now(), asked)
        refill = leases.ask(asked)
        if refill is None:
            leases.asked_early(cells)
            return
        if self._names:
            self._give_back_now()

        def answered(answer: Any) -> None:
            try:
                if not isinstance(answer, BaseException):
                    self._parsed(answer, rules, _NO_RULES, scripts, scripts, -1)
            except Exception as exc:  # an error answer: the grants run out instead
                log.debug("rate-limit grants asked early: %s", exc)
            finally:
                refill.done()
                leases.asked_early(cells)

        self._scripts.post_script(scripts.take, [-1, *wants], answered, urgent=True)

    async def take_refilled(self, rules: RuleList, estimate: int) -> Taken | None:
        """``take_local`` once the grant on its way to one of the counters is in (None at
        once when none is on its way): calls that find a grant used up while another call
        asks for the next wait for it, rather than each ask Redis."""
        pending = self._leases.pending(self._prepare(rules).cells)
        if pending is None:
            return None
        await asyncio.shield(pending)
        return self.take_local(rules, estimate)

    async def take(self, rules: RuleList, estimate: int) -> Taken:
        local = self.take_local(rules, estimate) or await self.take_refilled(rules, estimate)
        if local is not None:
            return local
        scripts = self._prepare(rules)
        more, refill = self._more(estimate, scripts)
        if self._names:  # a call that ended before this one began is given back first
            self._give_back_now()
        try:
            answer = await self._scripts.run(scripts.take, more)
            return self._parsed(answer, rules, _NO_RULES, scripts, scripts, estimate)[0]
        finally:
            if refill is not None:
                refill.done()

    async def take_both(
        self, first: RuleList, second: RuleList, estimate: int
    ) -> tuple[Taken, Taken | None]:
        scripts = self._prepare(first)
        seconds = self._prepare(second)
        more, refill = self._more(estimate, scripts, seconds)
        if self._names:
            self._give_back_now()
        try:
            answer = await self._scripts.run(scripts.pair(first, second), more)
            return self._parsed(answer, first, second, scripts, seconds, estimate)
        finally:
            if refill is not None:
                refill.done()

    def take_ahead(self, first: RuleList, second: RuleList, estimate: int) -> SentTake | None:
        scripts = self._prepare(first)
        seconds = self._prepare(second) if second else scripts
        prepared = scripts.pair(first, second) if second else scripts.take
        more, refill = self._more(estimate, scripts, seconds if second else None)
        if self._names:
            self._give_back_now()
        sent = self._scripts.send_ahead(prepared, more)
        if sent is None:
            if refill is not None:
                refill.done()
            return None
        return SentTake(self, sent, prepared, more, first, second, (scripts, seconds), refill)

    def _more(
        self, estimate: int, scripts: _Scripts, seconds: _Scripts | None = None
    ) -> tuple[list[int], Refill | None]:
        """A take's arguments after the prepared ones: the estimate, and the grant each
        counter asks for (only those of a list whose every counter can be leased); and
        those grants, on their way once the take is sent. The counters' debts are queued,
        to be sent ahead of the take."""
        leases = self._leases
        leases.debts(scripts.cells)
        if seconds is not None:
            leases.debts(seconds.cells)
        holder = leases.holder()
        now = leases.now()
        asked: list[Cell] = []
        more = [estimate]
        first = holder if scripts.leased else False
        more += leases.wanted(scripts.cells, estimate, first, now, asked)
        if seconds is not None:
            second = holder if seconds.leased else False
            more += leases.wanted(seconds.cells, estimate, second, now, asked)
        return more, leases.ask(asked)

    def _parsed(
        self,
        answer: bytes,
        first: RuleList,
        second: RuleList,
        scripts: _Scripts,
        seconds: _Scripts,
        estimate: int,
    ) -> tuple[Taken, Taken | None]:
        """TAKE's answer for a call of ``estimate``: whether each group was counted,
        Redis's time, each count, then each grant (taken in by the cells)."""
        values = answer.split()
        now = int(values[2])
        clock = now / 1000
        size = len(first) + len(second)
        split = len(first) + 3
        grants = values[3 + size :]
        holder = self._leases.holder()
        # The handles: Redis's time (ms), which names the windows counted in.
        used = [int(v) for v in values[3:split]]
        taken = Taken(values[0] == b"1", used, clock, (scripts, now))
        if taken.allowed and holder is not None:
            self._leases.granted(
                scripts.cells, used, [int(v) for v in grants[: len(first)]], estimate, now, holder
            )
        if not taken.allowed or not second:
            return taken, None
        used = [int(v) for v in values[split : 3 + size]]
        channel = Taken(values[1] == b"1", used, clock, (seconds, now))
        if channel.allowed and holder is not None:
            self._leases.granted(
                seconds.cells, used, [int(v) for v in grants[len(first) :]], estimate, now, holder
            )
        return taken, channel

    def give_back(self, taken: Taken, rules: RuleList, tokens: int, inflight: int) -> None:
        scripts, now = taken.handles
        rest = self._leases.end(scripts.cells, tokens, inflight, now)
        if rest:  # (the usual end is all in the grants)
            self._queue(now, rest)
        if scripts.cells.short:
            self._ask_early(rules, scripts, 0)

    def untake(self, taken: Taken, rules: RuleList, estimate: int) -> None:
        scripts, now = taken.handles
        changes = ((cell, -cell.cost(estimate)) for cell in scripts.cells)
        self._queue(now, self._leases.give_back(changes, now))

    def _queue(self, now: int, changes: Iterable[Change]) -> None:
        """Add (counter, its window in ms, delta) to this turn's give-back."""
        names, deltas = self._names, self._deltas
        waiting = len(names)
        for name, window, delta in changes:
            if delta:
                # TAKE's name for the window it counted in (``math.floor(now / window)``
                # there: exact in doubles for any time and window of these sizes).
                names.append(f"{name}:{now // window}" if window else name)
                deltas.append(delta)
        if names and not waiting:
            asyncio.get_running_loop().call_soon(self._give_back_now)

    def _give_back_now(self) -> None:
        names, deltas = self._names, self._deltas
        if not names:
            return
        self._names, self._deltas = [], []
        for start in range(0, len(names), GIVE_BACK_BATCH):
            end = start + GIVE_BACK_BATCH
            prepared = Prepared.of(_GIVE_BACK, names[start:end], deltas[start:end], 0)
            self._scripts.post_script(prepared, (), _given_back)

    async def sync(self) -> None:
        """Return once every give-back made so far is counted."""
        self._give_back_now()
        await self._scripts.sync()

    def trim(self) -> None:
        """Give back every grant now (as when the process stops)."""
        self._leases.trim(True)

    def failed(self, exc: BaseException) -> bool:
        return self._scripts.failed(exc)

    async def close(self) -> None:
        self._leases.close()
        if self._names:  # grants given back: waited for, briefly (Redis may be away)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sync(), CLOSE_SECONDS)
        await self._scripts.close()


class SentTake:
    """A take written ahead (``take_ahead``): its answer comes in ``future``, and is read
    as soon as it does (the grants it brings are then in for every call)."""

    __slots__ = (
        "_answer",
        "_counters",
        "_more",
        "_prepared",
        "_refill",
        "_rules",
        "_scripts",
        "future",
    )

    def __init__(
        self,
        counters: RedisCounters,
        future: asyncio.Future[Any],
        prepared: Prepared,
        more: list[int],
        first: RuleList,
        second: RuleList,
        scripts: tuple[_Scripts, _Scripts],
        refill: Refill | None,
    ) -> None:
        self._counters = counters
        self.future = future
        self._prepared = prepared
        self._more = more
        self._rules = (first, second)
        self._scripts = scripts
        self._refill = refill
        self._answer: tuple[Taken, Taken | None] | BaseException | None = None
        future.add_done_callback(self._landed)

    def _landed(self, future: asyncio.Future[Any]) -> None:
        if self._answer is not None:  # read already
            return
        try:
            if future.cancelled():
                self._answer = asyncio.CancelledError()
                return
            first, second = self._rules
            try:
                self._answer = self._counters._parsed(
                    future.result(), first, second, *self._scripts, self._more[0]
                )
            except Exception as exc:  # lost, or an error answer: ``parsed`` raises it
                self._answer = exc
        finally:
            if self._refill is not None:
                self._refill.done()

    def parsed(self) -> tuple[Taken, Taken | None]:
        """The answer, once ``future`` is done (its error raised)."""
        answer = self._answer
        if answer is None:  # (the future's callbacks have not run yet)
            self._landed(self.future)
            answer = self._answer
        if isinstance(answer, BaseException):
            raise answer
        assert answer is not None
        return answer

    async def answer(self) -> tuple[Taken, Taken | None]:
        """``parsed``, the script run again by its text when Redis had lost it."""
        try:
            return self.parsed()
        except ReplyError as exc:
            if exc.code != "NOSCRIPT":
                raise
        answer = await self._counters._scripts.run(self._prepared, self._more)
        first, second = self._rules
        return self._counters._parsed(answer, first, second, *self._scripts, self._more[0])


def _given_back(answer: object) -> None:
    if isinstance(answer, BaseException):
        # Lost: the windows expire, and a slot in flight after INFLIGHT_TTL_SECONDS.
        log.warning("rate-limit counters: a call's end was not counted: %s", answer)
