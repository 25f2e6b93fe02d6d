"""Failed-sign-in throttling: each e-mail address and each client address may fail only so
often in a window; past that, sign-in answers 429 with ``Retry-After`` until the window
lets it try again.

Each try is counted when it starts (``attempt``, one atomic step: refused, or counted
against the account and the address), before its password is checked, and given back when
it succeeds (``succeeded``): guesses sent all at once get no more answers than the limit,
where counting only the failures afterwards would let every guess in flight through.

Two backends keep the counts: ``MemoryThrottle`` in-process (the default: per gateway
instance, which bounds guessing to ``limit`` tries per window per instance), and
``RedisThrottle`` (``throttle_redis``, with ``AIRELAY_REDIS_URL``: one count for every
instance). ``open_throttle`` picks one from the settings."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from airelay.errors import GatewayError

WINDOW_SECONDS = 900.0
PER_ACCOUNT = 5
PER_ADDRESS = 20
MAX_TRACKED = 100_000  # subjects remembered at once (an attacker's spread is bounded)


class LoginThrottle(Protocol):
    async def attempt(self, account: str, address: str | None) -> None:
        """429 when this account or address has failed too often lately; else count this
        try against both (in one step: two tries at once cannot both take the last)."""
        ...

    async def succeeded(self, account: str, address: str | None) -> None:
        """The try was good: the account's count starts again, the address gets its try
        back."""
        ...

    async def close(self) -> None: ...


def too_many(wait: float) -> GatewayError:
    return GatewayError(
        429,
        "Too many failed sign-in attempts; try again later.",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


class MemoryThrottle:
    """The counts of this process: each subject's failure times in a sliding window."""

    def __init__(
        self,
        per_account: int = PER_ACCOUNT,
        per_address: int = PER_ADDRESS,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"account": per_account, "address": per_address}
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    async def attempt(self, account: str, address: str | None) -> None:
        now = self._clock()
        subjects = [("account", account)] + ([("address", address)] if address else [])
        for kind, subject in subjects:
            failures = self._recent(f"{kind}:{subject}", now)
            if failures is not None and len(failures) >= self._limits[kind]:
                raise too_many(failures[0] + self._window - now)
        if len(self._failures) >= MAX_TRACKED:
            self._sweep(now)
        for kind, subject in subjects:
            self._failures.setdefault(f"{kind}:{subject}", deque()).append(now)

    async def succeeded(self, account: str, address: str | None) -> None:
        self._failures.pop(f"account:{account}", None)
        tries = self._failures.get(f"address:{address}") if address else None
        if tries:
            tries.pop()

    async def close(self) -> None:
        return None

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= MAX_TRACKED:  # still full: forget the oldest subjects
            del self._failures[next(iter(self._failures))]
