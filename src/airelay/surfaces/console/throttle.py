"""Failed-sign-in throttling: each e-mail address and each client address may fail only so
often in a window; past that, sign-in answers 429 with ``Retry-After`` until the oldest
failure leaves the window. In-process (per gateway instance), which bounds guessing to
``limit`` tries per window per instance."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from airelay.errors import GatewayError

WINDOW_SECONDS = 900.0
PER_ACCOUNT = 5
PER_ADDRESS = 20
MAX_TRACKED = 100_000  # subjects remembered at once (an attacker's spread is bounded)


class LoginThrottle:
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

    def check(self, account: str, address: str | None) -> None:
        """429 when this account or address has failed too often lately."""
        now = self._clock()
        for kind, subject in (("account", account), ("address", address)):
            if subject is None:
                continue
            failures = self._recent(f"{kind}:{subject}", now)
            if failures is not None and len(failures) >= self._limits[kind]:
                wait = math.ceil(failures[0] + self._window - now)
                raise GatewayError(
                    429,
                    "Too many failed sign-in attempts; try again later.",
                    headers={"Retry-After": str(max(1, wait))},
                )

    def failed(self, account: str, address: str | None) -> None:
        now = self._clock()
        if len(self._failures) >= MAX_TRACKED:
            self._sweep(now)
        for key in (f"account:{account}", f"address:{address}" if address else None):
            if key is not None:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)

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
