"""A rule list's tally (``limit_cells``): calls taken and ended as three sums, not cell by
cell, must leave every counter, every answer and every change sent to Redis exactly as
taking them cell by cell does. Checked by running the same steps through two ``Leases``:
one whose lists tally, one whose lists never claim their cells; and for lists that share
counters, that they stop taking them from each other at every call."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.relay.limit_cells import CALM_MS, Cells, settle_owners
from airelay.relay.limit_lease import Leases
from airelay.relay.limit_policy import MINUTE, Rule

WINDOW = MINUTE * 1000
START = 29_000_000 * WINDOW  # a window's start, on Redis's clock (ms)

# Two lists: a key's own counters and a user's (shared), as a key's list on two models.
SHARED = [
    Rule("g:free:u:rpm", "requests", MINUTE, 1_000_000),
    Rule("g:free:u:cc", "concurrency", 0, 1_000_000),
    Rule("m:u:tpm", "tokens", MINUTE, 5_000_000),
]
LISTS = [
    [
        Rule("k:a:rpm", "requests", MINUTE, 1_000_000),
        Rule("k:a:tpm", "tokens", MINUTE, 900),
        *SHARED,
    ],
    [Rule("k:b:cc", "concurrency", 0, 1_000_000), *SHARED[:2]],
]


class Side:
    """One ``Leases`` with both lists, its grants from the same answers, and what it sent."""

    def __init__(self, tally: bool) -> None:
        self.holder = object()
        self.sent: list[tuple[int, list[tuple[str, int, int]]]] = []
        self.leases = Leases(lambda: self.holder, lambda now, c: self.sent.append((now, list(c))))
        self.cells = [self.leases.cells([r.name for r in rules], rules) for rules in LISTS]
        if not tally:
            for cells in self.cells:
                cells.calm = 1 << 62  # never claims

    def grant(self, which: int, grants: list[int], now: int, counts: list[int]) -> None:
        """Redis's answer to a take that asked for ``grants`` and counted no call: each
        counter's count ``counts``."""
        self.leases.granted(self.cells[which], list(counts), grants, -1, now, self.holder)

    def counts(self, which: int) -> list[int]:
        """Each counter of a list as Redis counts it: what this instance took, its grant
        included."""
        return [cell.base for cell in self.cells[which]]

    def state(self) -> list[tuple[int, ...]]:
        for cells in self.cells:
            settle_owners(cells)
        return [
            (cell.allowance, cell.base, cell.spent, cell.calls, cell.last, cell.low, cell.keep)
            for cells in self.cells
            for cell in cells
        ]


def grants_for(which: int) -> st.SearchStrategy[list[int]]:
    return st.lists(
        st.one_of(st.integers(0, 600), st.integers(2000, 6000)),
        min_size=len(LISTS[which]),
        max_size=len(LISTS[which]),
    )


steps = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(0, 1), st.integers(1, 1000)),
        st.tuples(
            st.just("end"), st.integers(0, 5), st.integers(-1000, 400), st.sampled_from([0, -1])
        ),
        st.tuples(st.just("grant"), st.integers(0, 1)),
        st.tuples(st.just("free"), st.integers(0, 1)),
        st.tuples(st.just("wanted"), st.integers(0, 1), st.integers(1, 1200)),
        st.tuples(st.just("debts"), st.integers(0, 1)),
        st.tuples(st.just("later"), st.integers(1, 3000)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, first=st.tuples(grants_for(0), grants_for(1)), data=st.data())
def test_a_tally_counts_as_cell_by_cell(
    steps: list[tuple[Any, ...]], first: tuple[list[int], list[int]], data: st.DataObject
) -> None:
    asyncio.run(_same(steps, first, data))


async def _same(
    steps: list[tuple[Any, ...]],
    first: tuple[list[int], list[int]],
    data: st.DataObject | None,
) -> None:
    sides = [Side(tally=True), Side(tally=False)]
    now = START + 1000
    for side in sides:
        side.grant(0, first[0], now, [0] * len(LISTS[0]))
        side.grant(1, first[1], now, [0] * len(LISTS[1]))
    calls: list[tuple[int, int, int]] = []  # (list, estimate, the time its take named)
    for step in steps:
        answers: list[Any] = []
        if step[0] == "take":
            _, which, estimate = step
            for side in sides:
                cells = side.cells[which]
                answers.append((side.leases.take(cells, estimate, side.holder, now), cells.short))
            if answers[0][0] is not None:
                calls.append((which, estimate, now))
        elif step[0] == "end" and calls:
            _, index, tokens, inflight = step
            which, _, taken_at = calls.pop(index % len(calls))
            for side in sides:
                cells = side.cells[which]
                answers.append((side.leases.end(cells, tokens, inflight, taken_at), cells.short))
        elif step[0] == "free":  # the end of a call counted in Redis, not from a grant
            for side in sides:
                cells = side.cells[step[1]]
                answers.append((side.leases.end(cells, 0, -1, now), cells.short))
        elif step[0] == "grant" and data is not None:
            which = step[1]
            grants = data.draw(grants_for(which))
            counts = sides[1].counts(which)  # (the same on both: the other has a tally)
            for side in sides:
                side.grant(which, grants, now, counts)
        elif step[0] == "wanted":
            _, which, estimate = step
            for side in sides:
                asked: list[Any] = []
                wants = side.leases.wanted(side.cells[which], estimate, side.holder, now, asked)
                answers.append((wants, [side.cells[which].index(cell) for cell in asked]))
                for cell in asked:  # (none on its way: the test answers no ask)
                    cell.refill = None
        elif step[0] == "debts":
            for side in sides:
                side.leases.debts(side.cells[step[1]])
        elif step[0] == "later":
            now = min(now + step[1], START + WINDOW - 100)
        assert answers[:1] == answers[1:]
        assert sides[0].sent == sides[1].sent
    assert sides[0].state() == sides[1].state()
    assert sides[0].sent == sides[1].sent
    for side in sides:
        side.leases.close()  # (its grants go back in the order of a set)
    assert sorted(map(str, sides[0].sent)) == sorted(map(str, sides[1].sent))


def test_far_from_their_limits_calls_are_tallied() -> None:
    asyncio.run(_tallied())


async def _tallied() -> None:
    side = Side(tally=True)
    now = START + 1000
    side.grant(0, [1000] * len(LISTS[0]), now, [0] * len(LISTS[0]))
    cells = side.cells[0]
    assert side.leases.take(cells, 5, side.holder, now) is not None  # cell by cell; claims
    before = [cell.allowance for cell in cells]
    for _ in range(10):
        assert side.leases.take(cells, 5, side.holder, now) is not None
        assert side.leases.end(cells, 2, -1, now) == []
    assert cells.tallied
    assert [cell.allowance for cell in cells] == before  # the sums are not in the cells yet
    assert (cells.calls, cells.flight, cells.tokens) == (10, 0, 70)
    side.leases.close()


def test_lists_that_share_counters_stop_taking_them_from_each_other() -> None:
    asyncio.run(_calm())


async def _calm() -> None:
    side = Side(tally=True)
    now = START + 1000
    side.grant(0, [1000] * len(LISTS[0]), now, [0] * len(LISTS[0]))
    side.grant(1, [1000] * len(LISTS[1]), now, [0] * len(LISTS[1]))
    first, second = side.cells

    def take(cells: Cells) -> None:
        assert side.leases.take(cells, 5, side.holder, now) is not None

    take(first)
    assert first.tallied
    take(second)  # claims the shared cells: the first list's sums go in
    assert second.tallied and not first.tallied
    take(first)  # ... and back, soon after: both stay calm
    take(second)
    take(first)
    assert not first.tallied and not second.tallied
    assert first.calm > now and second.calm > now
    now += CALM_MS + 1
    take(first)  # a second later, it tallies again
    assert first.tallied
    side.leases.close()


def test_a_tally_stops_where_a_call_would_leave_a_grant_low() -> None:
    # Grants of 4000 (the next asked for under 1000): calls of 500 tokens go in the tally
    # until one would leave the counter of tokens under 1000; that one is taken cell by
    # cell, and marks the list short, as without a tally.
    steps = [("take", 0, 10)] + [("take", 0, 500)] * 7 + [("end", 0, -100, -1)] * 3
    asyncio.run(_same(steps, ([4000] * len(LISTS[0]), [0] * len(LISTS[1])), None))


def test_a_call_over_a_limit_of_tokens_is_not_tallied() -> None:
    # A call's cost is its estimate capped at each limit of tokens (900 for the key's).
    steps = [("take", 0, 10), ("take", 0, 950), ("take", 0, 899), ("end", 0, 0, -1)]
    asyncio.run(_same(steps, ([6000] * len(LISTS[0]), [0] * len(LISTS[1])), None))


def test_ends_past_what_a_grant_keeps_are_not_tallied() -> None:
    # Calls counted in Redis free their slots in flight into the grant: past what it keeps
    # (twice the grant), half goes back to Redis, as without a tally.
    steps = [("take", 1, 10)] + [("free", 1)] * 70
    asyncio.run(_same(steps, ([0] * len(LISTS[0]), [64] * len(LISTS[1])), None))
