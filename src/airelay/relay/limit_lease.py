"""Leases on the Redis rate-limit counters: a share of a counter's headroom that Redis has
already counted for one instance, which that instance's calls then take with no round trip.

Why: over Redis, a call costs a round trip (~120 µs on loopback here, mostly waking the
other process) and a script (~50 µs for eleven counters), and the gateway's own CPU to
write and read both. A counter far from its limit cannot be passed by the next few calls
of one instance, so asking Redis about each of them buys nothing.

How:

* ``TAKE`` grants, with the call it counts, more of each counter the instance asks for
  (one that had another call in the last ``TRIM_SECONDS``, so that a call now and then
  is counted as it comes, with no grant to give back):
  ``LEASE_CALLS`` calls' worth (of tokens: what calls really used lately, ends included),
  and at most ``1/LEASE_SHARE`` of what the counter has left; nothing when that is less
  than the call (no grant too small to use). Redis counts the grant at once, so every
  instance's calls and unused grants together never pass a limit.
* A call whose every counter holds enough of its grant takes from the grants in-process.
  Its end gives back to the grant (tokens corrected, its slot in flight) in-process too;
  an end beyond the grant (more tokens than reserved) is a debt, sent before the next take;
  a grant that ends fill past what it keeps (twice its largest grant) gives half of that
  back (``_surplus``). A rule list's counters are checked for their window and connection
  once per window and connection, not at every call (``Cells``), and while a list has
  its counters to itself, its calls and ends add to three sums rather than to each
  counter, put into the counters before anything else reads them (``limit_cells``).
* One grant is asked for at a time: calls that find it used up while the next is on its
  way wait for it (``pending``), rather than each run a script (under load, dozens did).
* The next grant is asked for before the last runs out: a call (or a call's end) that
  leaves a window's counter less than a quarter of its last grant (``low``) has it asked
  for, in a take that counts no call, and goes on; the calls meanwhile take what is left.
  (Asked for only once a grant ran out, a busy instance's calls waited for it again and
  again.) A quarter of ``LEASE_CALLS`` calls is many round trips' worth of calls even at
  thousands of calls a second.
* A counter whose limit is under ``LEASE_MIN_LIMIT`` is never leased: small limits are
  counted in Redis call by call, exactly.
* A grant is for the window it was counted in, and is not used in the window's last
  ``EDGE_MS`` (the in-process clock follows Redis's, set at each answer).
* A grant belongs to the connection that got it: once that connection is lost (Redis
  restarted, or out of reach), the grant is dropped unused and calls go to Redis again,
  where ``AIRELAY_LIMITS_REDIS_FAILURE`` decides. A dropped grant stays counted until its
  window ends (a count in flight: until it expires, as the slot of an instance killed
  mid-call does).

What it costs: near a limit, an unused grant can refuse a call that the limit alone would
let through: another instance's, at most ``1/LEASE_SHARE`` of what the counter had left
when granted, and only until that window ends or ``TRIM_SECONDS`` after that instance's
last call on the counter (its unused grant then goes back; when the limit changes, with
the instance's first call under the new one); the instance's own, less than
one call's worth (what is left of a grant too small for the call).
``AIRELAY_LIMITS_LEASES=false`` counts every call in Redis instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from airelay.relay.limit_cells import FOREVER, LEASE_CALLS, Cell, Cells, settle_owners
from airelay.relay.limit_policy import Rule

#: A grant is not used in the last milliseconds of its window.
EDGE_MS = 50
#: An unused grant goes back this long after the instance's last call on its counter.
TRIM_SECONDS = 1.0
#: Counters known by name at most (the table starts again above it).
MAX_CELLS = 100_000

#: (counter, its window in ms or 0, what to add to it), to send to Redis.
Change = tuple[str, int, int]


class Leases:
    """The cells of one ``RedisCounters``: their grants, taken and given back in-process.

    ``holder`` names the connection a grant now would belong to (None: none is open, or the
    client cannot tell; then nothing is leased; no ``holder``: leases are off); ``send``
    queues changes to the counters in Redis (a window's counter named from the time
    given)."""

    __slots__ = (
        "_cells",
        "_epoch",
        "_holding",
        "_offset",
        "_send",
        "_timer",
        "enabled",
        "holder",
    )

    def __init__(
        self,
        holder: Callable[[], object | None] | None,
        send: Callable[[int, Iterable[Change]], None],
    ) -> None:
        self.enabled = holder is not None  # (off: every call is counted in Redis)
        # The connection a grant now would belong to (None: none).
        self.holder: Callable[[], object | None] = holder or _nobody
        self._send = send
        self._cells: dict[tuple[str, int], Cell] = {}  # (name, window) -> its cell
        self._holding: set[Cell] = set()  # cells with a grant, for ``trim``
        self._offset = 0  # ms: Redis's clock less this process's, at the last answer
        self._timer: asyncio.TimerHandle | None = None
        # Counts the times a cell's grant moved to another window or connection: a list's
        # ``Cells`` checked since holds as checked.
        self._epoch = 0

    def cells(self, names: list[str], rules: Iterable[Rule]) -> Cells:
        """The cells of a rule list (one per counter, shared by every list that counts it).
        A counter whose limit changed gets a new cell, and the old one's grant goes back
        at once (it was sized for the old limit)."""
        if len(self._cells) >= MAX_CELLS:
            self._cells.clear()
        found = []
        for name, rule in zip(names, rules, strict=True):
            known = (name, rule.window)
            cell = self._cells.get(known)
            if cell is None or cell.limit != rule.limit:
                if cell is not None:
                    settle_owners((cell,))
                    self._give_up(cell)
                cell = self._cells[known] = Cell(name, rule)
            found.append(cell)
        return Cells(found)

    def _give_up(self, cell: Cell) -> None:
        """Send what ``cell``'s grant holds back to Redis now (and what it owes)."""
        if cell.allowance and cell.holder is self.holder() and self.now() < cell.end:
            self._send(cell.start, [(cell.name, cell.window, -cell.allowance)])
        cell.allowance = 0
        self._holding.discard(cell)

    def now(self) -> int:
        """Redis's time now (ms), as this process follows it."""
        return int(time.time() * 1000) + self._offset

    # takes

    def take(self, cells: Cells, estimate: int, holder: object, now: int) -> list[int] | None:
        """Take the call from the grants, if every one of ``cells`` holds enough for it, of
        this connection's, in its window; each counter's count as the headers show it.
        None (nothing taken) otherwise."""
        if (
            cells.epoch == self._epoch
            and cells.holder is holder
            and cells.start <= now < cells.until
        ):
            if cells.tallied:  # (``limit_cells``: the usual call, in one step)
                calls, flight = cells.calls + 1, cells.flight + 1
                tokens = cells.tokens + estimate
                if (
                    calls <= cells.room_calls
                    and flight <= cells.room_flight
                    and tokens <= cells.room_tokens
                    and estimate < cells.cap
                ):
                    cells.calls, cells.flight, cells.tokens, cells.last = calls, flight, tokens, now
                    cells.uses += 1
                    sums = (calls, flight, tokens)
                    return [count + sums[kind] for count, kind in cells.counted]
        elif not self._check(cells, holder, now):
            return None
        settle_owners(cells, cells, now)  # (its own tally, or another's it takes)
        used: list[int] = []
        for cell in cells:
            if cell.tokens:
                cost = estimate if estimate < cell.limit else cell.limit
                allowance = cell.allowance - cost
                if allowance < 0:
                    return self._untake(cells, len(used), estimate)
                cell.spent += cost
                cell.calls += 1
            else:
                allowance = cell.allowance - 1
                if allowance < 0:
                    return self._untake(cells, len(used), estimate)
            cell.allowance = allowance
            cell.last = now
            used.append(cell.base - allowance)
            if allowance < cell.low and cell.refill is None:
                cells.short = True  # the next grant is to be asked for now (``low``)
        if not cells.short and cells.claim(now):
            # (A claimed cell is held: ``trim`` settles the tally, then sees the grant.)
            if not self._holding:
                self._arm()
            self._holding.update(cells)
        return used

    def _check(self, cells: Cells, holder: object, now: int) -> bool:
        """Whether every one of ``cells`` has a grant of ``holder``'s for the window of
        ``now`` (and when so, until when calls can skip this check)."""
        start, until, end = 0, FOREVER, FOREVER
        for cell in cells:
            if cell.holder is not holder or not cell.start <= now < cell.until:
                return False
            start, until, end = max(start, cell.start), min(until, cell.until), min(end, cell.end)
        cells.epoch, cells.holder = self._epoch, holder
        cells.start, cells.until, cells.end = start, until, end
        return True

    @staticmethod
    def _untake(cells: Cells, taken: int, estimate: int) -> None:
        """(Rare: a grant ran out.) What the first ``taken`` of ``cells`` took goes back."""
        for done in cells[:taken]:
            cost = done.cost(estimate)
            done.allowance += cost
            if done.tokens:
                done.spent -= cost
                done.calls -= 1

    def wanted(
        self,
        cells: list[Cell],
        estimate: int,
        holder: object | None,
        now: int,
        asked: list[Cell],
    ) -> list[int]:
        """The grant each of ``cells`` asks ``TAKE`` for (each that asks is added to
        ``asked``): ``LEASE_CALLS`` calls' worth (a call's worth of tokens: what calls took
        of it lately, ends included) for each leased counter that holds less than half
        that (or that a call would leave under its ``low``) for this window and connection
        (``holder``; None when the take will open one; False: ask for nothing), has no
        grant on its way, and had a call lately. All 0 when leases are off."""
        if not self.enabled or holder is False:
            return [0] * len(cells)
        settle_owners(cells)
        wants = []
        recent = now - int(TRIM_SECONDS * 1000)
        for cell in cells:
            want = 0
            # (A counter with no call in the last TRIM_SECONDS asks for nothing: a grant
            # to a call now and then would only go back unused, a script more each time.)
            if cell.lease and cell.refill is None and cell.last > recent:
                want = LEASE_CALLS * max(cell.cost(estimate), cell.per_call())
                held = cell.holder is holder and cell.start <= now < cell.end
                low = cell.allowance - cell.cost(estimate) < cell.low  # (``take``: short)
                if held and 2 * cell.allowance >= want and not low:
                    want = 0
                else:
                    asked.append(cell)
            wants.append(want)
        return wants

    def ask(self, asked: list[Cell]) -> Refill | None:
        """The grants of ``asked`` are on their way: calls that find those counters short
        meanwhile wait for them (``pending``) rather than each ask Redis too."""
        if not asked:
            return None
        refill = Refill(asyncio.get_running_loop().create_future(), asked)
        for cell in asked:
            cell.refill = refill.future
        return refill

    def asked_early(self, cells: Cells) -> None:
        """A take that asked for ``cells``' next grants early is over, or asked for none:
        those still under their ``low`` with no grant on its way (Redis refused or had
        nothing to give, was out of reach, or a cell asks for none) wait to run out
        before they ask again."""
        settle_owners(cells)
        for cell in cells:
            if cell.allowance < cell.low and cell.refill is None:
                cell.low = 0

    def pending(self, cells: list[Cell]) -> asyncio.Future[None] | None:
        """A grant on its way to one of ``cells``, if any."""
        for cell in cells:
            if cell.refill is not None:
                return cell.refill
        return None

    def granted(
        self,
        cells: list[Cell],
        used: list[int],
        grants: list[int],
        estimate: int,
        now: int,
        holder: object,
    ) -> None:
        """A counted ``TAKE``'s answer for ``cells`` (a call of ``estimate``; -1: none, the
        take only asked for grants): each counter's count (the call included, any grant
        not) and grant. ``used`` becomes the counts the headers show."""
        self._offset = now - int(time.time() * 1000)
        settle_owners(cells)
        for i, cell in enumerate(cells):
            if not cell.lease:
                continue
            window = cell.window
            start = now - now % window if window else 0
            if cell.holder is not holder or cell.start != start:
                # Another window's grant (gone with it) or another connection's (dropped).
                self._epoch += 1
                cell.holder, cell.allowance, cell.start = holder, 0, start
                cell.end = start + window if window else FOREVER
                cell.until = cell.end - EDGE_MS if window else FOREVER
            cost = cell.cost(estimate) if estimate >= 0 else 0
            if cell.tokens and estimate >= 0:  # (its end comes to the grant too)
                cell.spent += cost
                cell.calls += 1
            grant = grants[i]
            count = used[i]
            used[i] = count - cell.allowance
            cell.base = count + grant
            cell.last = now
            if grant and window:
                cell.low = grant // 4
            elif cell.allowance - cost < cell.low:
                cell.low = 0  # Redis had nothing to give: it asks again once it runs out
            if grant:
                cell.allowance += grant
                cell.keep = max(cell.keep, 2 * grant)
                if not self._holding:
                    self._arm()
                self._holding.add(cell)

    # ends

    def give_back(self, cells: Iterable[tuple[Cell, int]], now: int) -> list[Change]:
        """A call's ends (``(cell, what to add to its counter)``, ``now`` the time its take
        named the windows by): what a grant of the same window and connection takes
        in-process (beyond it, as a debt); the rest, and what a grant would keep beyond
        ``keep``, to send."""
        holder = self.holder()
        rest: list[Change] = []
        cells = list(cells)
        settle_owners(cell for cell, _ in cells)
        for cell, delta in cells:
            window = cell.window
            if holder is None or cell.holder is not holder or not cell.start <= now < cell.end:
                rest.append((cell.name, window, delta))
                continue
            if cell.tokens:
                cell.spent += delta
            # More than the grant held (a call that used more tokens than it reserved)
            # leaves a debt, counted in Redis before this instance's next take (``debts``)
            # or when idle: such ends in a row would each be a script, else.
            allowance = cell.allowance - delta
            if allowance > cell.keep:
                allowance = self._surplus(cell, allowance, rest)
            cell.allowance = allowance
            if allowance:
                if not self._holding:
                    self._arm()
                self._holding.add(cell)
        return rest

    def end(self, cells: Cells, tokens: int, inflight: int, now: int) -> list[Change]:
        """``give_back`` of a call's ends on ``cells``: ``tokens`` to each counter of
        tokens, ``inflight`` to each count in flight."""
        holder = self.holder()
        if not (
            cells.epoch == self._epoch
            and holder is not None
            and cells.holder is holder
            and cells.start <= now < cells.end
        ):
            return self.give_back(
                [(cell, tokens if counts else inflight) for cell, counts in cells.ends], now
            )
        if cells.tallied:  # (``limit_cells``: the usual end, in one step)
            flight, summed = cells.flight + inflight, cells.tokens + tokens
            if (
                cells.floor_flight <= flight <= cells.room_flight
                and cells.floor_tokens <= summed <= cells.room_tokens
            ):
                cells.flight, cells.tokens = flight, summed
                return []
        settle_owners(cells)
        rest: list[Change] = []
        for cell, counts in cells.ends:
            if counts:
                delta = tokens
                cell.spent += delta
            else:
                delta = inflight
            if not delta:
                continue
            allowance = cell.allowance - delta
            if allowance > cell.keep:
                allowance = self._surplus(cell, allowance, rest)
            elif allowance < cell.low and cell.refill is None:
                cells.short = True  # (tokens beyond the estimate, from the grant)
            if allowance and not cell.allowance:
                if not self._holding:
                    self._arm()
                self._holding.add(cell)
            cell.allowance = allowance
        return rest

    @staticmethod
    def _surplus(cell: Cell, allowance: int, rest: list[Change]) -> int:
        """A grant that ends gave back to beyond ``keep`` keeps half that; the rest goes to
        Redis (in ``rest``). Why half: calls counted in Redis (those that ask for grants)
        free their slots in flight into the grant, one each; given back to ``keep`` alone,
        each such call's end would be a script more."""
        kept = cell.keep // 2
        rest.append((cell.name, cell.window, kept - allowance))
        return kept

    def debts(self, cells: list[Cell]) -> None:
        """Send what ``cells`` owe (ends beyond their grants) to Redis, ahead of a take."""
        settle_owners(cells)
        for cell in cells:
            if cell.allowance < 0:
                self._send(cell.start, [(cell.name, cell.window, -cell.allowance)])
                cell.allowance = 0

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(TRIM_SECONDS, self._trim)

    def _trim(self) -> None:
        self._timer = None
        self.trim(False)
        if self._holding:
            self._arm()

    def trim(self, everything: bool) -> None:
        """Give back the grants unused since ``TRIM_SECONDS``, and send their debts
        (``everything``: all)."""
        now = self.now()
        idle = now - int(TRIM_SECONDS * 1000)
        holder = self.holder()
        held = list(self._holding)
        settle_owners(held)
        for cell in held:
            # Gone with its window, or counted by a Redis that may be gone: dropped.
            if now >= cell.end or cell.holder is not holder:
                cell.allowance = 0
            elif everything or cell.last <= idle:
                self._give_up(cell)
            if not cell.allowance:
                self._holding.discard(cell)

    def close(self) -> None:
        """Give every grant back (the process stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.trim(True)


def _nobody() -> None:
    return None


class Refill:
    """Grants asked for, on their way (``Leases.ask``); ``done`` once they are in, or lost."""

    __slots__ = ("cells", "future")

    def __init__(self, future: asyncio.Future[None], cells: list[Cell]) -> None:
        self.future = future
        self.cells = cells

    def done(self) -> None:
        for cell in self.cells:
            if cell.refill is self.future:
                cell.refill = None
        if not self.future.done():
            self.future.set_result(None)
