"""The rate-limit counters in Redis (``AIRELAY_REDIS_URL``): every instance that shares the
Redis counts against the same counters, so a limit holds once, not once per instance.

A call is one round trip: one ``EVALSHA`` of ``TAKE`` checks every counter of the call
and counts it in all of them, or in none, atomically (Redis runs a script alone). Windows
are fixed and aligned on Redis's own clock (``TIME``), so instances whose clocks differ
still share each window. Ending a call (tokens corrected, slots in flight freed) is one
more ``EVALSHA`` of ``GIVE_BACK``, sent in the background: the call's answer never waits
for it.

Counters expire on their own: a window's when it has passed, a count in flight after
``INFLIGHT_TTL_SECONDS`` without a new call (what an instance killed mid-call held).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airelay.relay.limit_policy import Rule, Taken
from airelay.store.redis_client import connect, failures

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

PREFIX = "airelay:limits:"
#: How long a count of calls in flight outlives the last call that changed it.
INFLIGHT_TTL_SECONDS = 3 * 3600

# ARGV: the in-flight TTL (ms), then per key: window seconds (0: in flight), limit, cost.
# Returns: allowed (0/1), then per key its count, then per key the ms until its window
# resets, then per key the window id (0 for in flight).
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[1])
local n = #KEYS
local names, used, resets, ids = {}, {}, {}, {}
local allowed = 1
for i = 1, n do
  local window = tonumber(ARGV[3 * i - 1])
  local limit = tonumber(ARGV[3 * i])
  local cost = tonumber(ARGV[3 * i + 1])
  local name = KEYS[i]
  if window > 0 then
    local id = math.floor(now / window)
    name = name .. ':' .. id
    ids[i] = id
    resets[i] = math.floor(((id + 1) * window - now) * 1000)
  else
    ids[i] = 0
    resets[i] = 0
  end
  names[i] = name
  local count = tonumber(redis.call('GET', name) or '0')
  used[i] = count
  if count + cost > limit then allowed = 0 end
end
if allowed == 1 then
  for i = 1, n do
    local window = tonumber(ARGV[3 * i - 1])
    local cost = tonumber(ARGV[3 * i + 1])
    if cost > 0 then
      used[i] = redis.call('INCRBY', names[i], cost)
      if window > 0 then
        if used[i] == cost then redis.call('PEXPIRE', names[i], window * 1000 + 1000) end
      else
        redis.call('PEXPIRE', names[i], ttl)
      end
    end
  end
end
local out = {allowed}
for i = 1, n do out[#out + 1] = used[i] end
for i = 1, n do out[#out + 1] = resets[i] end
for i = 1, n do out[#out + 1] = ids[i] end
return out
"""

# KEYS: counters as TAKE named them; ARGV: the delta for each. A counter that expired
# meanwhile is left alone; none goes below zero.
GIVE_BACK = """
for i = 1, #KEYS do
  local delta = tonumber(ARGV[i])
  if delta ~= 0 and redis.call('EXISTS', KEYS[i]) == 1 then
    local value = redis.call('INCRBY', KEYS[i], delta)
    if value < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  end
end
return 0
"""


class RedisCounters:
    __slots__ = ("_client", "_give_back", "_pending", "_take")

    def __init__(self, url: str) -> None:
        self._client: Redis = connect(url)
        self._take = self._client.register_script(TAKE)
        self._give_back = self._client.register_script(GIVE_BACK)
        self._pending: set[asyncio.Task[None]] = set()

    async def take(self, rules: Sequence[Rule], costs: Sequence[int]) -> Taken:
        keys = [PREFIX + rule.name for rule in rules]
        args: list[int] = [INFLIGHT_TTL_SECONDS * 1000]
        for rule, cost in zip(rules, costs, strict=True):
            args += (rule.window, rule.limit, cost)
        answer: list[Any] = await self._take(keys=keys, args=args)
        n = len(rules)
        used = [int(value) for value in answer[1 : n + 1]]
        resets = [int(value) / 1000 for value in answer[n + 1 : 2 * n + 1]]
        names = [
            key if rule.window == 0 else f"{key}:{int(window_id)}"
            for key, rule, window_id in zip(keys, rules, answer[2 * n + 1 :], strict=True)
        ]
        return Taken(bool(answer[0]), used, resets, names)

    def give_back(self, taken: Taken, rules: Sequence[Rule], deltas: Sequence[int]) -> None:
        names: list[str] = taken.handles
        keys = [name for name, delta in zip(names, deltas, strict=True) if delta]
        args = [delta for delta in deltas if delta]
        task = asyncio.get_running_loop().create_task(self._send_back(keys, args))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_back(self, keys: list[str], args: list[int]) -> None:
        try:
            await self._give_back(keys=keys, args=args)
        except Exception as exc:
            if not isinstance(exc, failures()):
                raise
            # Lost: the windows expire, and a slot in flight after INFLIGHT_TTL_SECONDS.
            log.warning("rate-limit counters: a call's end was not counted: %s", exc)

    def failed(self, exc: BaseException) -> bool:
        return isinstance(exc, failures())

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()
