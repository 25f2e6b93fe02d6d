"""Keys' quotas on one instance: calls reserve against this instance's part of a key's
quota in the current window, and a part is taken from the database only when it runs short
(``airelay.store.quota_holds`` says why parts and not a counter per call). The wallet
(``airelay.billing.wallets``) drives it: it reserves here before the money, settles here
with the money, and writes the charges with its batches.

A quota, daily to monthly (UTC windows, ``airelay.store.quota_window``) or for the key's
life, is never overspent, however many instances share the key and whatever their calls'
timing: a call passes only if its worst case fits in the part, and the parts of all
instances never add up to more than what the window has left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing.spend_rate import SpendRate
from airelay.store import quota_holds
from airelay.store.quota_window import window_end, window_start

QuotaKey = tuple[str, int]  # a key's id and the start of a window of its quota


class QuotaExhausted(Exception):
    """The key's quota in this window cannot cover the call's worst case."""


@dataclass(slots=True)
class _Part:
    """This instance's part of one key's quota in one window (as a wallet's account is
    for a user's money)."""

    spend: SpendRate  # the key's recent charges here: sizes the next part taken
    last_used: float
    ends: int | None  # when the window ends (Unix seconds); None: never
    held: int = 0  # includes reserved and pending
    reserved: int = 0
    pending: int = 0  # charged, not yet written
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def free(self) -> int:
        return self.held - self.reserved - self.pending


class KeyQuotas:
    def __init__(
        self,
        engine: AsyncEngine,
        instance_id: str,
        spend_window: float,
        size: Callable[[SpendRate, int], int],
        clock: Callable[[], float],
        wall: Callable[[], float],
        takes: set[asyncio.Future[Any]],
    ) -> None:
        self._engine = engine
        self._instance_id = instance_id
        self._spend_window = spend_window
        self._size = size  # how much to take: the wallet's hold sizing, from the spend rate
        self._clock = clock
        self._wall = wall
        self._takes = takes  # the wallet's takes in flight: its stop() waits for them
        self._parts: dict[QuotaKey, _Part] = {}
        # Per key: its period, current window and that window's end, as last computed.
        self._windows: dict[str, tuple[str | None, QuotaKey, int | None]] = {}
        self._queue: dict[QuotaKey, int] = {}  # charges not yet in a batch

    async def reserve(self, token_id: str, period: str | None, amount: int) -> QuotaKey:
        """Reserve ``amount`` against this instance's part of the key's quota in the
        current window, taking more of the quota from the database when the part is short;
        raises QuotaExhausted."""
        wall = self._wall()
        current = self._windows.get(token_id)
        if (
            current is not None
            and current[0] == period
            and (current[2] is None or wall < current[2])
        ):
            key = current[1]  # the window of the key's last call (no date arithmetic per call)
        else:
            start = window_start(period, wall)
            key = (token_id, start)
            self._windows[token_id] = (period, key, window_end(period, start))
        part = self._parts.get(key)
        now = self._clock()
        if part is None:
            part = self._parts[key] = _Part(
                SpendRate(self._spend_window, started=now), now, window_end(period, key[1])
            )
        part.last_used = now
        if part.free < amount:
            async with part.lock:
                # Checked again after every take: calls reserve meanwhile from the same part.
                while (free := part.free) < amount:
                    need = amount - free
                    want = max(self._size(part.spend, need), amount * 4)
                    # Shielded: a client that leaves cancels its call, never the write.
                    take = asyncio.ensure_future(self._take(key, part, need, want))
                    self._takes.add(take)
                    take.add_done_callback(self._takes.discard)
                    if not await asyncio.shield(take):
                        raise QuotaExhausted(token_id)
        part.reserved += amount
        return key

    async def _take(self, key: QuotaKey, part: _Part, need: int, want: int) -> int:
        """Take part of a key's quota and count it in memory, as one piece of work (see the
        wallet's ``_take``). A key whose quota was removed meanwhile is served as if
        ``want`` were taken (the snapshot catches up with the change within a moment)."""
        async with self._engine.begin() as conn:
            taken = await quota_holds.take(conn, self._instance_id, key[0], key[1], need, want)
        if taken == quota_holds.UNLIMITED:
            taken = want  # in memory only: flushes and returns find no row to change
        part.held += taken
        return taken

    def unreserve(self, key: QuotaKey, amount: int) -> int:
        """Give back a call's reservation; returns what the part has free after it (the
        most the call may be charged: the quota is never overspent)."""
        part = self._parts[key]
        part.reserved -= amount
        return part.free

    def charge(self, key: QuotaKey, amount: int, now: float) -> None:
        """A settled call's charge, to be written with the next batch (``queued``)."""
        part = self._parts[key]
        part.pending += amount
        part.last_used = now
        part.spend.add(amount, now)
        self._queue[key] = self._queue.get(key, 0) + amount

    def queued(self) -> dict[QuotaKey, int]:
        """The charges since the last call, for the batch being made."""
        queue, self._queue = self._queue, {}
        return queue

    def written(self, charges: dict[QuotaKey, int]) -> None:
        """A batch's charges are in the database: out of the parts (the flush moved them
        from the holds into the keys' spend)."""
        for key, amount in charges.items():
            part = self._parts[key]
            part.pending -= amount
            part.held -= amount

    async def spent(self, token_id: str, period: str | None) -> int:
        """A key's spend in its current window, plus what every instance holds of that
        window's quota except this instance's free part: what a check outside the call
        path (a video task) may count on as taken."""
        key = (token_id, window_start(period, self._wall()))
        async with self._engine.connect() as conn:
            spent, held = await quota_holds.committed(conn, *key)
        part = self._parts.get(key)
        return spent + held - (max(0, part.free) if part is not None else 0)

    async def release(self, idle_for: float | None) -> None:
        """Give back the parts not used for ``idle_for`` seconds (None: all), and those of
        windows that have ended, once their calls are settled and written."""
        now = self._clock()
        wall = self._wall()
        for key, part in list(self._parts.items()):
            if part.reserved or part.pending or part.lock.locked():
                continue
            ended = part.ends is not None and wall >= part.ends
            if idle_for is not None and not ended and now - part.last_used < idle_for:
                continue
            amount = part.held
            part.held = 0  # before the await: no call reserves it meanwhile
            try:
                async with self._engine.begin() as conn:
                    await quota_holds.give_back(conn, self._instance_id, key[0], key[1], amount)
            except BaseException:
                part.held += amount
                raise
            if not part.held and not part.reserved and not part.lock.locked():
                del self._parts[key]
                current = self._windows.get(key[0])
                if current is not None and current[1] == key:
                    del self._windows[key[0]]

    async def heartbeat(self) -> None:
        async with self._engine.begin() as conn:
            await quota_holds.heartbeat(conn, self._instance_id)

    async def release_stale(self, older_than: int) -> None:
        """Free the parts of instances that stopped beating before ``older_than``."""
        async with self._engine.begin() as conn:
            await quota_holds.release_stale(conn, older_than)
