"""How big a balance hold to take: enough for some seconds of the user's recent spend.

A hold is taken out of the user's database balance in one transaction, under the user's
account lock, and the next one is taken in the background when a quarter of the last is
left (see ``wallets``). A fixed $1 hold lasted about 2.6 s at 4,500 calls/s, so its refill
had 0.65 s of headroom; on SQLite a refill can wait that long for the write lock behind a
usage flush, and every call of the user then waited in ``Wallets.reserve`` (c32 p99 120-150
ms against the floor's 12-16 ms, unpinned). Sized from the spend rate, a busy user's hold
lasts ``hold_seconds`` whatever the traffic, so the refill starts with a quarter of that in
hand, while a quiet user's hold stays at the minimum and other instances sharing the
balance are not starved. The maximum bounds what one instance keeps out of a balance that
other instances may need; and a hold never exceeds the balance (``store.holds.take``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SpendRate:
    """Units charged per second over about the last ``window`` seconds: a sliding-window
    counter (the previous window's total, weighted by how much of it the sliding window
    still covers, plus the current one's). ``add`` is one comparison and one addition on
    the hot path; times come from the caller's clock, so tests can use a fake one."""

    window: float
    started: float = 0.0  # when the current window began
    current: int = 0  # charged in the current window
    previous: int = 0  # charged in the window before it

    def add(self, amount: int, now: float) -> None:
        if now - self.started >= self.window:
            self._roll(now)
        self.current += amount

    def per_second(self, now: float) -> float:
        if now - self.started >= self.window:
            self._roll(now)
        into = (now - self.started) / self.window  # 0..1: how far into the current window
        return (self.previous * (1.0 - into) + self.current) / self.window

    def _roll(self, now: float) -> None:
        # One window later, the current window becomes the previous one; after a longer
        # silence nothing recent is left.
        self.previous = self.current if now - self.started < 2 * self.window else 0
        self.current = 0
        self.started = now


def hold_size(
    rate_per_second: float, need: int, min_hold: int, max_hold: int, hold_seconds: float
) -> int:
    """The hold to ask for: ``hold_seconds`` of spend at ``rate_per_second``, kept between
    ``min_hold`` and ``max_hold``, and at least ``need`` (what the call at hand lacks)."""
    by_rate = int(rate_per_second * hold_seconds)
    return max(need, min(max(by_rate, min_hold), max_hold))
