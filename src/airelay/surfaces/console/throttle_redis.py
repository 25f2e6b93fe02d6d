"""Failed-sign-in counts in Redis, shared by every gateway instance on it: guesses spread
over the instances count once.

Each subject (an account, a client address) is one counter. A try is one ``EVALSHA``
of ``ATTEMPT``: if no counter is at its limit, it increments them all (setting a counter's
expiry to the window on its first try), atomically; a success is one more, ``SUCCEEDED``
(the account's counter deleted, the address's given its try back). So a count lives
``WINDOW_SECONDS`` from its first try (a fixed window; the in-process throttle slides),
and ``Retry-After`` is what is left of it. Subjects are stored as SHA-256 digests: Redis
never holds an e-mail or a client address.

While Redis cannot be reached, ``AIRELAY_LIMITS_REDIS_FAILURE`` decides, as for the rate
limits: ``closed`` (the default) answers sign-ins 503 with ``Retry-After`` (no guess goes
uncounted); ``open`` counts in this process meanwhile (each instance its own, as without
Redis). Redis is tried again after ``DOWN_SECONDS``, with no restart."""

from __future__ import annotations

import hashlib
import logging
import time

from airelay.config import Settings
from airelay.errors import GatewayError
from airelay.relay.limits import DOWN_SECONDS
from airelay.store.redis_scripts import Scripts, open_scripts
from airelay.store.resp import Prepared, Script
from airelay.surfaces.console.throttle import (
    PER_ACCOUNT,
    PER_ADDRESS,
    WINDOW_SECONDS,
    LoginThrottle,
    MemoryThrottle,
    too_many,
)

log = logging.getLogger(__name__)
#: The least a sign-in waits for Redis (``AIRELAY_REDIS_TIMEOUT`` when that is longer): not
#: the hot path's 0.2 s default, since a busy moment would turn sign-ins away (``closed``)
#: where the password check takes tens of milliseconds anyway.
TIMEOUT_SECONDS = 2.0

# KEYS: counters; ARGV[1]: the window (ms), then each counter's limit. Returns 0 when the
# try was counted, else the most milliseconds left on a counter at its limit.
ATTEMPT = """
local wait = 0
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local left = redis.call('PTTL', KEYS[i])
    if left < 1000 then left = 1000 end
    if left > wait then wait = left end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
end
return 0
"""

# KEYS[1]: the account's counter, KEYS[2] (if any): the address's.
SUCCEEDED = """
redis.call('DEL', KEYS[1])
if KEYS[2] and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 0
"""

_ATTEMPT = Script.of(ATTEMPT)
_SUCCEEDED = Script.of(SUCCEEDED)


class RedisThrottle:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        fail_open: bool = False,
        window: float = WINDOW_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self._client: Scripts = open_scripts(url, timeout=timeout)
        self._prefix = prefix
        self._window_ms = int(window * 1000)
        self._fail_open = fail_open
        self._fallback = MemoryThrottle(window=window)
        self._down_until = 0.0

    def _keys(self, account: str, address: str | None) -> tuple[list[str], list[int]]:
        subjects = [("account", account, PER_ACCOUNT)]
        if address:
            subjects.append(("address", address, PER_ADDRESS))
        keys = [
            self._prefix + kind + ":" + hashlib.sha256(subject.encode()).hexdigest()
            for kind, subject, _ in subjects
        ]
        return keys, [limit for _, _, limit in subjects]

    async def attempt(self, account: str, address: str | None) -> None:
        keys, limits = self._keys(account, address)
        wait_ms = await self._run(_ATTEMPT, keys, [self._window_ms, *limits])
        if wait_ms is None:
            await self._fallback.attempt(account, address)
        elif wait_ms:
            raise too_many(int(wait_ms) / 1000)

    async def succeeded(self, account: str, address: str | None) -> None:
        await self._fallback.succeeded(account, address)
        if self._available():
            try:
                await self._client.run(
                    Prepared.of(_SUCCEEDED, self._keys(account, address)[0], (), 0), ()
                )
            except Exception as exc:
                if not self._client.failed(exc):
                    raise
                self._went_down(exc)

    async def close(self) -> None:
        await self._client.close()

    async def _run(self, script: Script, keys: list[str], args: list[int]) -> int | None:
        """The script's answer; None when Redis is out of reach and ``open`` lets the
        in-process count stand in; 503 when ``closed``."""
        if self._available():
            try:
                answer: int = await self._client.run(Prepared.of(script, keys, args, 0), ())
                return answer
            except Exception as exc:
                if not self._client.failed(exc):
                    raise
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


def open_throttle(settings: Settings) -> LoginThrottle:
    """In Redis when ``redis_url`` is set (shared by every instance), else in-process."""
    if settings.redis_url:
        return RedisThrottle(
            settings.redis_url,
            settings.login_throttle_prefix,
            fail_open=settings.limits_redis_failure == "open",
            # A sign-in spends longer on its password hash: it waits at least as long.
            timeout=max(TIMEOUT_SECONDS, settings.redis_timeout),
        )
    return MemoryThrottle()
