"""The Redis rate-limit counters as one instance holds them (``limit_lease``): a ``Cell``
per counter, with its grant, and a rule list's ``Cells``, with its tally.

The tally. A key's rule list counts up to eight counters, a channel's three; a call from
the grants took one from each and its end gave back to each, one by one, and that was
most of the limit stage's CPU. Yet far from its limits, what a call does to each counter
of its list follows from three numbers: one call (to each window's count of requests), one
call in flight (to each count in flight, -1 again when it ends) and its tokens (to each
count of tokens: its estimate, then its real tokens less the estimate). So while a list
has its cells to itself (it ``claim``ed them: each cell's ``owner``), its calls add to
those three sums (``calls``, ``flight``, ``tokens``) and leave the cells alone, as long
as the sums stay within the bounds worked out at the claim: every grant above the point
where the next is asked for (``low``) and under what it keeps (``keep``), each cost the
call's estimate (under every limit of tokens). Anything else, one of the list's own calls
included, first puts the sums into the cells (``settle``), then works on them as before:
the counts are the same, taken in one step rather than eleven.

A list whose cells another list claimed soon after its own claim (a user's calls that
alternate between keys or models) claims nothing again for a second: both then take cell
by cell, rather than each settling the other's sums at every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from airelay.relay.limit_policy import Rule

#: A grant is at most this many calls' worth of a counter (the call's cost times this).
#: (128 rather than 64: with the next grant asked for early, half the scripts.)
LEASE_CALLS = 128
#: ... and at most this share of what the counter has left (1/LEASE_SHARE).
LEASE_SHARE = 32
#: Counters with a smaller limit are counted in Redis call by call.
LEASE_MIN_LIMIT = 2 * LEASE_SHARE
#: A list's cells taken back by another list after fewer of its calls than this leave it
#: claiming nothing for ``CALM_MS``.
CLAIM_CALLS = 16
CALM_MS = 1000
FOREVER = 1 << 62  # ms: the end of a count in flight's one window; an unbounded sum

# What a cell counts of a call, as the tally sums it.
REQUESTS, FLIGHT, TOKENS = 0, 1, 2


class Cell:
    """One counter as this instance knows it: its grant (``allowance``) and where it holds.

    ``base`` is the counter's count in Redis at its last answer (this instance's unused
    grant included), so ``base - allowance`` is what the counter holds less this
    instance's unused grant: the count the ``x-ratelimit-*`` headers show. While a list
    has claimed it (``owner``), its tally is to come off ``allowance`` too."""

    __slots__ = (
        "allowance",
        "base",
        "calls",
        "end",
        "holder",
        "keep",
        "kind",
        "last",
        "lease",
        "limit",
        "low",
        "name",
        "owner",
        "refill",
        "spent",
        "start",
        "tokens",
        "until",
        "window",
    )

    def __init__(self, name: str, rule: Rule) -> None:
        self.name = name
        self.window = rule.window * 1000  # ms; 0: calls in flight
        self.limit = rule.limit
        self.tokens = rule.kind == "tokens"
        self.kind = TOKENS if self.tokens else REQUESTS if rule.window else FLIGHT
        self.lease = rule.limit >= LEASE_MIN_LIMIT
        # The window the grant is for (Redis's ms): its start and end, and the end of its
        # use by calls (``EDGE_MS`` before); a count in flight has one window, for ever.
        self.start = -1
        self.end = self.until = 0
        self.allowance = 0
        self.base = 0
        self.holder: object | None = None  # the connection that got the grant
        self.keep = 0  # the most of a grant kept when calls' ends give back to it
        # A call that leaves less of the grant than this has the next grant asked for,
        # while the rest lasts (a quarter of the last grant of a window's counter; 0: the
        # grant runs out first).
        self.low = 0
        self.last = 0  # ms: the last call on the counter
        # What calls took of the grant lately (their ends' corrections included), and how
        # many: a call's worth of tokens is what real calls use, not their estimate.
        self.spent = 0
        self.calls = 0
        # Done when the grant asked for is in (``Leases.ask``): one at a time.
        self.refill: asyncio.Future[None] | None = None
        self.owner: Cells | None = None  # the list whose tally is still to come off

    def cost(self, estimate: int) -> int:
        """``limit_policy.cost``."""
        return min(estimate, self.limit) if self.tokens else 1

    def per_call(self) -> int:
        """What a call took of the grant lately, on average (0: unknown)."""
        calls = self.calls
        if not calls:
            return 0
        if calls >= 2 * LEASE_CALLS:  # the older half is forgotten
            self.spent //= 2
            self.calls = calls = calls // 2
        return max(0, self.spent) // calls


class Cells(list[Cell]):
    """The cells of one rule list, in its order, and when a call may take from their
    grants without checking each cell's connection and window: while the grants were not
    renewed for another window or connection since (``epoch``), for calls on the
    connection ``holder``, from ``start`` until ``until`` (``end``, its ends). And its
    tally, while it has claimed its cells (``tallied``)."""

    __slots__ = (
        "calls",
        "calm",
        "cap",
        "counted",
        "end",
        "ends",
        "epoch",
        "flight",
        "floor_flight",
        "floor_tokens",
        "holder",
        "last",
        "room_calls",
        "room_flight",
        "room_tokens",
        "short",
        "start",
        "tallied",
        "tokens",
        "until",
        "uses",
    )

    def __init__(self, cells: Iterable[Cell]) -> None:
        super().__init__(cells)
        self.epoch = -1  # never checked yet
        self.short = False  # a call left one of them under its ``low``, none on its way
        self.holder: object | None = None
        self.start = self.until = self.end = 0
        # (cell, whether it counts tokens) of each counter a call's end changes: its
        # tokens and its slots in flight.
        self.ends = [(cell, cell.tokens) for cell in self if cell.tokens or not cell.window]
        # The tally: the sums not yet in the cells, and the bounds they stay within.
        self.tallied = False
        self.calls = self.flight = self.tokens = 0
        self.last = 0  # ms: the last call the tally took
        self.uses = 0  # calls taken since the claim
        self.calm = 0  # ms: no claim before this
        self.room_calls = self.room_flight = self.room_tokens = 0
        self.floor_flight = self.floor_tokens = 0
        self.cap = 0  # a call's estimate is its cost under this (every limit of tokens)
        # (count the headers show at the claim, what the cell counts of a call) per cell.
        self.counted: list[tuple[int, int]] = []

    def claim(self, now: int) -> bool:
        """Have the cells to this list's tally from now (each grant as it holds, nothing
        summed yet), unless it is calm or a grant holds no call more; False then. Another
        list's tally on them is to be settled first (``taken_from``)."""
        if now < self.calm:
            return False
        room = [FOREVER, FOREVER, FOREVER]
        floor = [-FOREVER, -FOREVER, -FOREVER]
        cap = FOREVER
        for cell in self:
            kind = cell.kind
            # (Under ``low`` with the next grant on its way, a call goes on taking.)
            spare = cell.allowance - (cell.low if cell.refill is None else 0)
            room[kind] = min(room[kind], spare)
            floor[kind] = max(floor[kind], cell.allowance - cell.keep)
            if kind == TOKENS:
                cap = min(cap, cell.limit)
        if min(room) < 1:  # not one more call: nothing to tally
            return False
        for cell in self:
            cell.owner = self
        self.room_calls, self.room_flight, self.room_tokens = room
        _, self.floor_flight, self.floor_tokens = floor
        self.cap = cap
        self.counted = [(cell.base - cell.allowance, cell.kind) for cell in self]
        self.calls = self.flight = self.tokens = self.uses = 0
        self.tallied = True
        return True

    def settle(self) -> None:
        """Put the tally into the cells and stop tallying (the cells are anyone's again)."""
        self.tallied = False
        sums = (self.calls, self.flight, self.tokens)
        calls, tokens, last = self.calls, self.tokens, self.last
        self.calls = self.flight = self.tokens = 0
        for cell in self:
            if cell.owner is self:
                cell.owner = None
            cell.allowance -= sums[cell.kind]
            if cell.tokens:
                cell.spent += tokens
                cell.calls += calls
            if calls and cell.last < last:
                cell.last = last

    def taken_from(self, now: int) -> None:
        """Another list claims cells of this one's: it settles, and if that was soon
        after its own claim, it stays calm for a while."""
        if self.uses < CLAIM_CALLS:
            self.calm = now + CALM_MS
        self.settle()


def settle_owners(cells: Iterable[Cell], taker: Cells | None = None, now: int = 0) -> None:
    """Put every list's tally on ``cells`` into them: before anything but a tally's own
    steps reads or changes them. ``taker``: the list about to take them cell by cell (and
    claim them) at ``now``; another list's tally on them is then ``taken_from``."""
    for cell in cells:
        owner = cell.owner
        if owner is not None:
            if taker is None or owner is taker:
                owner.settle()
            else:
                owner.taken_from(now)
