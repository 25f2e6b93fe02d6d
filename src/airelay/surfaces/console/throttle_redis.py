"""Failed-sign-in counts in Redis, shared by every gateway instance on it: guesses spread
over the instances count once.

Each subject (an account, a client address) is one counter: a failure is one ``EVALSHA``
that increments it and, on its first failure, sets its expiry to the window, atomically;
a check reads the counters it needs in one more. So a count lives ``WINDOW_SECONDS`` from
its first failure (a fixed window; the in-process throttle slides), and ``Retry-After`` is
what is left of it. Subjects are stored as SHA-256 digests: Redis never holds an address.

While Redis cannot be reached, ``AIRELAY_LIMITS_REDIS_FAILURE`` decides, as for the rate
limits: ``closed`` (the default) answers sign-ins 503 with ``Retry-After`` (no guess goes
uncounted); ``open`` counts in this process meanwhile (each instance its own, as without
Redis). Redis is tried again after ``DOWN_SECONDS``, with no restart."""

from __future__ import annotations

import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

from airelay.errors import GatewayError
from airelay.relay.limits import DOWN_SECONDS
from airelay.store.redis_client import connect, failures
from airelay.surfaces.console.throttle import (
    PER_ACCOUNT,
    PER_ADDRESS,
    WINDOW_SECONDS,
    MemoryThrottle,
    too_many,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

# KEYS: counters; ARGV: each one's limit. Returns the most milliseconds left on a counter
# at or past its limit, 0 if none is.
CHECK = """
local wait = 0
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i]) then
    local left = redis.call('PTTL', KEYS[i])
    if left > wait then wait = left end
    if left < 0 then wait = math.max(wait, 1000) end
  end
end
return wait
"""

# KEYS: counters; ARGV[1]: the window in milliseconds.
FAIL = """
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 0
"""


class RedisThrottle:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        fail_open: bool = False,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self._client: Redis = connect(url)
        self._check = self._client.register_script(CHECK)
        self._fail = self._client.register_script(FAIL)
        self._prefix = prefix
        self._window_ms = int(window * 1000)
        self._fail_open = fail_open
        self._fallback = MemoryThrottle(window=window)
        self._down_until = 0.0

    def _key(self, kind: str, subject: str) -> str:
        return self._prefix + kind + ":" + hashlib.sha256(subject.encode()).hexdigest()

    def _keys(self, account: str, address: str | None) -> tuple[list[str], list[int]]:
        keys, limits = [self._key("account", account)], [PER_ACCOUNT]
        if address:
            keys.append(self._key("address", address))
            limits.append(PER_ADDRESS)
        return keys, limits

    async def check(self, account: str, address: str | None) -> None:
        keys, limits = self._keys(account, address)
        wait_ms = await self._run(self._check, keys, limits)
        if wait_ms is None:
            await self._fallback.check(account, address)
        elif wait_ms:
            raise too_many(int(wait_ms) / 1000)

    async def failed(self, account: str, address: str | None) -> None:
        keys, _ = self._keys(account, address)
        if await self._run(self._fail, keys, [self._window_ms]) is None:
            await self._fallback.failed(account, address)

    async def succeeded(self, account: str) -> None:
        await self._fallback.succeeded(account)
        if self._available():
            try:
                await self._client.delete(self._key("account", account))
            except failures() as exc:
                self._went_down(exc)

    async def close(self) -> None:
        await self._client.aclose()

    async def _run(self, script: Any, keys: list[str], args: list[int]) -> Any:
        """The script's answer; None when Redis is out of reach and ``open`` lets the
        in-process count stand in; 503 when ``closed``."""
        if self._available():
            try:
                return await script(keys=keys, args=args)
            except failures() as exc:
                self._went_down(exc)
        if self._fail_open:
            return None
        raise GatewayError(
            503,
            "Sign-in is unavailable for a moment; try again shortly.",
            headers={"Retry-After": str(max(1, round(DOWN_SECONDS)))},
        )

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _went_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + DOWN_SECONDS
        log.warning("sign-in throttle: Redis out of reach: %s", type(exc).__name__)
