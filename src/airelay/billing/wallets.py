"""Reservations from memory, settled in batches: the money path of every call.

Each instance takes *holds* out of a user's database balance (one round trip, only when its
hold runs short) and reserves each call's worst case against the hold in memory. Settling a
call subtracts its real cost from the hold and queues its usage row; a background task writes
the queued rows, the hold decrements and the spend counters in one transaction. So the
balance in the database never goes below zero, several instances stay exact against one
database, and a typical call touches no database at all.

A batch is written once whatever the network does: it carries an id, claimed in the
transaction that writes it. A flush that failed (possibly after its COMMIT went through, the
reply lost) is retried with the same id and the same rows; a retry that finds the id claimed
knows the batch is written and only updates memory. Rows settled meanwhile wait for the next
batch. A flush starts as soon as rows are queued, at most every ``flush_interval``, which
bounds what a kill -9 can lose to the last moments' calls.

Idle holds go back to the balance; at shutdown everything is flushed and returned; a crashed
instance's holds are returned by whichever instance next sees their heartbeat go stale.

A key's quota is held the same way (``airelay.billing.key_quotas``): a call reserves its
worst case against the key's quota first, then against the money, and the key's charges
are written with the same batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.billing.key_quotas import KeyQuotas, QuotaKey
from airelay.billing.spend_rate import SpendRate, hold_size
from airelay.ids import new_id
from airelay.observe.metrics import FLUSH_LAG
from airelay.store import batches, holds, quota_holds
from airelay.store import tokens as token_store
from airelay.store import usage as usage_store
from airelay.store.unavailable import OutageLog, reason

log = logging.getLogger(__name__)


class InsufficientFunds(Exception):
    """The user's balance cannot cover the call's worst case."""


@dataclass(slots=True)
class _Account:
    spend: SpendRate  # the user's recent charges on this instance: sizes the next hold
    last_used: float  # the wallet's clock
    held: int = 0  # units held by this instance for the user (includes reserved)
    reserved: int = 0  # worst cases of calls in flight
    pending: int = 0  # charged but not yet written
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_take: int = 0  # the size of the last hold taken; 0: do not refill ahead
    refilling: bool = False


@dataclass(slots=True)
class Reservation:
    user_id: str
    token_id: str | None
    amount: int
    settled: bool = False
    quota: QuotaKey | None = None  # the quota window the call is reserved against


@dataclass(slots=True)
class _Batch:
    """Usage rows and their totals, written in one transaction under ``id``."""

    id: str
    rows: list[dict[str, Any]]
    spent: dict[str, int]  # per user
    by_token: dict[str, int]
    by_quota: dict[QuotaKey, int] = field(default_factory=dict)
    attempts: int = 0


def _batch(rows: list[dict[str, Any]]) -> _Batch:
    spent: dict[str, int] = {}
    by_token: dict[str, int] = {}
    for row in rows:
        spent[row["user_id"]] = spent.get(row["user_id"], 0) + row["cost"]
        if row["token_id"] is not None:
            by_token[row["token_id"]] = by_token.get(row["token_id"], 0) + row["cost"]
    return _Batch(new_id("bat"), rows, spent, by_token)


@dataclass(frozen=True, slots=True)
class WalletSettings:
    # A hold takes at least this much (or the whole balance if smaller), so that most calls
    # reserve from memory.
    min_hold: int = 10**10  # $1
    # A busy user's hold covers this many seconds of their recent spend (measured over
    # about ``spend_window`` seconds), up to ``max_hold``: the next hold is taken when a
    # quarter is left, so its write has a quarter of this in hand (see billing.spend_rate).
    hold_seconds: float = 20.0
    spend_window: float = 10.0
    max_hold: int = 10**12  # $100
    # The least time between two flushes: queued rows are written at once after a quiet
    # spell, and at most this often under load. What a kill -9 loses is about this long.
    flush_interval: float = 0.25
    # How long a failed flush waits before it is retried.
    retry_seconds: float = 0.25
    # Batch ids are kept this long: a batch retried later could be written twice (its rows'
    # primary keys would still refuse the second write).
    batch_ids_kept_seconds: int = 3600
    idle_release_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    stale_after_seconds: int = 60


class Wallets:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: WalletSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._settings = settings or WalletSettings()
        self._clock = clock  # spend rates and idle holds (tests pass a fake one)
        self.instance_id = new_id("inst")
        self._accounts: dict[str, _Account] = {}
        self._queue: list[dict[str, Any]] = []
        self._unconfirmed: _Batch | None = None  # a flush that failed: retried as it is
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._refills: set[asyncio.Future[Any]] = set()  # holds being taken
        self._stopping = False
        self._quotas = KeyQuotas(
            engine,
            self.instance_id,
            self._settings.spend_window,
            self._hold_size_of,
            clock,
            wall,
            self._refills,
        )

    # -- the hot path ------------------------------------------------------------------

    async def reserve(
        self,
        user_id: str,
        token_id: str | None,
        amount: int,
        quota: int | None = None,
        period: str | None = None,
    ) -> Reservation:
        """Set aside ``amount`` for a call; raise QuotaExhausted if the key (``token_id``
        with ``quota`` per ``period``) cannot cover ``amount`` in the current window,
        InsufficientFunds if the balance cannot."""
        quota_key = None
        if token_id is not None and quota is not None:
            quota_key = await self._quotas.reserve(token_id, period, amount)
        # One coroutine for the whole reservation (no inner call): this runs for every call.
        try:
            account = self._accounts.get(user_id)
            now = self._clock()
            if account is None:
                account = self._accounts[user_id] = _Account(
                    SpendRate(self._settings.spend_window, started=now), now
                )
            account.last_used = now
            if account.held - account.reserved - account.pending < amount:
                async with account.lock:
                    # Checked again after every take: while one is awaited, calls that need
                    # no take reserve from the same free money, so one take may not do.
                    while (free := account.held - account.reserved - account.pending) < amount:
                        need = amount - free
                        want = max(self._hold_size(account, need), amount * 4)
                        # Shielded: a client that leaves cancels this call, never the write
                        # (see ``_take``).
                        take = asyncio.ensure_future(self._take(user_id, account, need, want))
                        self._refills.add(take)  # stop() waits for it, as for a refill
                        take.add_done_callback(self._refills.discard)
                        taken = await asyncio.shield(take)
                        if taken == 0:
                            raise InsufficientFunds(user_id)
            account.reserved += amount
            if (
                account.last_take
                and not account.refilling
                and account.held - account.reserved - account.pending < account.last_take // 4
            ):
                self._refill_soon(user_id, account)
            return Reservation(user_id=user_id, token_id=token_id, amount=amount, quota=quota_key)
        except BaseException:
            if quota_key is not None:
                self._quotas.unreserve(quota_key, amount)
            raise

    async def _take(self, user_id: str, account: _Account, need: int, want: int) -> int:
        """Take a hold and count it in memory, as one piece of work that is never cancelled
        halfway: cancelled inside its transaction, a SQLite connection is dropped with its
        write lock still held, and every other write then waits for it; cancelled after
        the commit, the hold would be in the database and not in memory."""
        async with self._engine.begin() as conn:
            taken = await holds.take(conn, self.instance_id, user_id, need, want)
        if taken:
            account.held += taken
            account.last_take = taken
        return taken

    def _hold_size(self, account: _Account, need: int) -> int:
        return self._hold_size_of(account.spend, need)

    def _hold_size_of(self, spend: SpendRate, need: int) -> int:
        settings = self._settings
        return hold_size(
            spend.per_second(self._clock()),
            need,
            settings.min_hold,
            settings.max_hold,
            settings.hold_seconds,
        )

    def _refill_soon(self, user_id: str, account: _Account) -> None:
        """Take the next hold in the background while a quarter of the last one is still
        free, so that a busy user's calls do not queue behind the database write."""
        if self._stopping:
            return
        account.refilling = True
        task = asyncio.get_running_loop().create_task(self._refill(user_id, account))
        self._refills.add(task)
        task.add_done_callback(self._refills.discard)

    async def _refill(self, user_id: str, account: _Account) -> None:
        try:
            async with account.lock:
                if self._accounts.get(user_id) is not account:
                    return
                if account.held - account.reserved - account.pending >= account.last_take // 4:
                    return  # calls settled below their reservations meanwhile
                want = self._hold_size(account, 1)
                async with self._engine.begin() as conn:
                    taken = await holds.take(conn, self.instance_id, user_id, 1, want)
                account.held += taken
                # An empty balance: calls reserve what is left; the next shortfall asks again.
                account.last_take = taken
        except Exception as exc:  # the database may be briefly away: the next shortfall asks
            log.warning("taking a hold ahead for user %s failed: %s", user_id, reason(exc))
        finally:
            account.refilling = False

    def settle(self, reservation: Reservation, cost: int, usage_row: dict[str, Any]) -> int:
        """Charge ``cost`` for a reserved call and queue its usage row (its ``cost`` set to
        the charge); returns the charge.

        A cost above the reservation is charged from the rest of the hold; what even that
        cannot cover is not charged (the balance never goes below zero) and is logged.
        """
        if reservation.settled:
            raise RuntimeError("reservation settled twice")
        reservation.settled = True
        account = self._accounts[reservation.user_id]
        account.reserved -= reservation.amount
        available = account.held - account.reserved - account.pending
        if reservation.quota is not None:
            # A call that cost more than its worst case is charged what the key's quota
            # has left at most: the quota is never overspent.
            left = self._quotas.unreserve(reservation.quota, reservation.amount)
            available = min(available, left)
        charge = max(0, min(cost, available))
        if charge < cost:
            log.warning(
                "user %s: call cost %d units but only %d could be charged",
                reservation.user_id,
                cost,
                charge,
            )
        account.pending += charge
        now = account.last_used = self._clock()
        account.spend.add(charge, now)
        if reservation.quota is not None:
            self._quotas.charge(reservation.quota, charge, now)
        usage_row["cost"] = charge
        if not self._queue:
            self._wake.set()  # the first row of a batch: flush soon
        self._queue.append(usage_row)
        return charge

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation unused (the call failed before producing anything)."""
        if reservation.settled:
            return
        reservation.settled = True
        account = self._accounts[reservation.user_id]
        account.reserved -= reservation.amount
        if reservation.quota is not None:
            self._quotas.unreserve(reservation.quota, reservation.amount)

    async def withdraw(
        self, user_id: str, amount: int, write: Callable[[AsyncConnection], Awaitable[None]]
    ) -> None:
        """Take ``amount`` out of the user's money for good, in one transaction with
        ``write`` (a video task's row: its reservation outlives any call and any instance,
        so it cannot live in a hold). The balance pays, helped by the free part of this
        instance's hold when the balance alone is short; raises ``InsufficientFunds``."""
        account = self._accounts.get(user_id)
        if account is None:
            await self._withdraw(user_id, amount, 0, write)
            return
        async with account.lock:
            free = account.held - account.reserved - account.pending
            from_hold = max(0, min(free, amount))
            # Set aside before the await: no call reserves it meanwhile.
            account.reserved += from_hold
            try:
                await self._withdraw(user_id, amount, from_hold, write)
            finally:
                account.reserved -= from_hold
            account.held -= from_hold

    async def _withdraw(
        self,
        user_id: str,
        amount: int,
        from_hold: int,
        write: Callable[[AsyncConnection], Awaitable[None]],
    ) -> None:
        async with self._engine.begin() as conn:
            if not await holds.withdraw(conn, self.instance_id, user_id, amount, from_hold):
                raise InsufficientFunds(user_id)
            await write(conn)

    # -- reads -------------------------------------------------------------------------

    def quiet(self) -> asyncio.Lock:
        """Hold while reading balances: no flush is then half done (committed in the
        database but not yet in memory)."""
        return self._flush_lock

    def pending_spend(self, user_id: str) -> int:
        account = self._accounts.get(user_id)
        return account.pending if account else 0

    async def quota_spent(self, token_id: str, period: str | None) -> int:
        """A key's spend in its quota's current window, plus what every instance holds of
        that window's quota except this instance's free part: what a check outside the
        call path (a video task) may count on as taken."""
        return await self._quotas.spent(token_id, period)

    # -- background work ---------------------------------------------------------------

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            released = await holds.release_stale(
                conn, int(time.time()) - self._settings.stale_after_seconds
            )
        await self._quotas.release_stale(int(time.time()) - self._settings.stale_after_seconds)
        if released:
            log.info("returned %d orphaned balance holds to their users", released)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Write everything and return every hold (graceful shutdown loses nothing)."""
        if self._task is not None:
            # Not cancelled: a flush cancelled inside its transaction would leave a SQLite
            # write lock behind, and the last flush below would wait on it in vain.
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        self._stopping = True  # no hold is taken ahead from here on
        while self._refills:
            await asyncio.gather(*self._refills, return_exceptions=True)
        await self.flush()
        await self._release(idle_for=None)

    async def _run(self) -> None:
        settings = self._settings
        tick = settings.retry_seconds  # how often heartbeats and sweeps are looked at
        last_beat = last_sweep = time.monotonic()
        next_flush = last_beat + settings.flush_interval
        outages = OutageLog(log, "billing flush")
        while True:
            due = bool(self._queue) or self._unconfirmed is not None
            wait = min(next_flush - time.monotonic(), tick) if due else tick
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                self._wake.clear()
            if self._stopping:
                return  # stop() writes the rest
            self._report_lag()
            try:
                now = time.monotonic()
                if (self._queue or self._unconfirmed is not None) and now >= next_flush:
                    next_flush = now + settings.flush_interval
                    try:
                        await self.flush()
                    except Exception:
                        next_flush = time.monotonic() + settings.retry_seconds
                        raise
                    outages.succeeded()
                if now - last_beat >= settings.heartbeat_seconds:
                    last_beat = now
                    await self._heartbeat()
                    await self._release(idle_for=settings.idle_release_seconds)
                    outages.succeeded()
                if now - last_sweep >= settings.stale_after_seconds / 2:
                    last_sweep = now
                    wall = int(time.time())
                    async with self._engine.begin() as conn:
                        await holds.release_stale(conn, wall - settings.stale_after_seconds)
                        await batches.prune(conn, wall - settings.batch_ids_kept_seconds)
                    await self._quotas.release_stale(wall - settings.stale_after_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be briefly away; retry on the next tick
                outages.failed(exc)

    def _report_lag(self) -> None:
        """The age of the oldest usage row not yet written (0: none), as the metric: it
        grows while the database is away."""
        oldest = None
        if self._unconfirmed is not None and self._unconfirmed.rows:
            oldest = min(row["created_at"] for row in self._unconfirmed.rows)
        elif self._queue:
            oldest = self._queue[0]["created_at"]
        FLUSH_LAG.set(0.0 if oldest is None else max(0.0, time.time() - oldest))

    async def flush(self) -> None:
        """Write queued usage and charges: first a batch whose write failed (the same id and
        rows), then the rows queued since, each batch in one transaction."""
        async with self._flush_lock:
            if self._unconfirmed is not None:
                await self._write(self._unconfirmed)
            if self._queue:
                self._unconfirmed = _batch(self._queue)
                self._unconfirmed.by_quota = self._quotas.queued()
                self._queue = []
                await self._write(self._unconfirmed)

    async def _write(self, batch: _Batch) -> None:
        """Write ``batch`` once, then apply it to memory. On an error the batch stays
        unconfirmed (it may have committed): the next flush retries it as it is."""
        batch.attempts += 1
        try:
            async with self._engine.begin() as conn:
                written = await self._write_in(conn, batch)
        except IntegrityError:
            if batch.attempts == 1:
                raise
            # Claimed yet unknown: the batch was written so long ago that its id has been
            # pruned, and its rows' keys refused the second write. It is written.
            written = False
        if not written:
            log.warning("usage batch %s was written before (its reply was lost)", batch.id)
        self._unconfirmed = None
        self._report_lag()
        for user_id, amount in batch.spent.items():
            account = self._accounts[user_id]
            account.pending -= amount
            account.held -= amount
        self._quotas.written(batch.by_quota)

    async def _write_in(self, conn: AsyncConnection, batch: _Batch) -> bool:
        """The batch's writes; False if its id was claimed before (it is written)."""
        if not await batches.claim(conn, batch.id, self.instance_id):
            return False
        # Lock order, as every other writer of these rows (see store.holds and
        # store.quota_holds): rollups, then keys, then their quota holds, then users before
        # their holds, each in ascending order. The users' rows, which every hold taken for
        # a call needs, are locked last: for the shortest time.
        await usage_store.insert_batch(conn, batch.rows)
        await token_store.add_used(conn, batch.by_token)
        await quota_holds.spend(conn, self.instance_id, batch.by_quota)
        await holds.spend(conn, self.instance_id, batch.spent)
        return True

    async def _heartbeat(self) -> None:
        async with self._engine.begin() as conn:
            await holds.heartbeat(conn, self.instance_id)
        await self._quotas.heartbeat()

    async def _release(self, idle_for: float | None) -> None:
        """Return the unused part of holds not used for ``idle_for`` seconds (None: all)."""
        now = self._clock()
        for user_id, account in list(self._accounts.items()):
            if account.reserved or account.pending or account.refilling or account.lock.locked():
                continue
            if idle_for is not None and now - account.last_used < idle_for:
                continue
            amount = account.held
            # Taken from memory before the await, so a concurrent reserve cannot use it.
            account.held = 0
            try:
                async with self._engine.begin() as conn:
                    await holds.give_back(conn, self.instance_id, user_id, amount)
            except BaseException:
                account.held += amount
                raise
            if not account.held and not account.reserved and not account.lock.locked():
                del self._accounts[user_id]
        await self._quotas.release(idle_for)
