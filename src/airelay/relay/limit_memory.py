"""The in-process rate-limit counters (the default): plain lists on the event loop, so no
lock is needed (a ``take`` never awaits between its check and its count). Windows are
fixed and aligned on the clock, like the Redis backend's, so the two count alike.

Each counter is a cell, ``[window id, count, window seconds]`` (0 and 0 for calls in
flight), found by
its rule's name once per rule list and kept on the list (``RuleList.prepared``): a call
then touches its cells directly, with no lookup by name. A cell is reset in place when its
window has passed. Every ``SWEEP_EVERY`` takes, cells of windows that have passed (and
in-flight cells at 0) are forgotten, so that a key or model seen once does not stay
forever; the lists then look their cells up again.

One instance's counts only: several instances each enforce the limit on their own share;
set ``AIRELAY_REDIS_URL`` for one count across instances."""

from __future__ import annotations

import time
from collections.abc import Callable

from airelay.relay.limit_policy import RuleList, Taken

#: Takes between two sweeps of the cells whose windows have passed.
SWEEP_EVERY = 10_000

_REQUESTS, _TOKENS, _INFLIGHT = 0, 1, 2  # kinds of counter
_KINDS = {"requests": _REQUESTS, "tokens": _TOKENS, "concurrency": _INFLIGHT}


class _Prepared:
    """A rule list's cells for one ``MemoryCounters``, as of one sweep."""

    __slots__ = ("cells", "ends", "owner", "rules", "sweeps")

    def __init__(self, owner: MemoryCounters, sweeps: int, rules: RuleList) -> None:
        cells = owner._cells
        found = []
        for rule in rules:
            cell = cells.get(rule.name)
            if cell is None:
                cell = cells[rule.name] = [0, 0, rule.window]
            found.append(cell)
        self.owner = owner
        self.sweeps = sweeps
        self.cells = found
        # Per rule: (cell, window, limit, counts tokens).
        self.rules = [
            (cell, rule.window, rule.limit, rule.kind == "tokens")
            for cell, rule in zip(found, rules, strict=True)
        ]
        # What a call's end changes: (cell, window, kind) of token and in-flight counts.
        self.ends = [
            (cell, rule.window, _KINDS[rule.kind])
            for cell, rule in zip(found, rules, strict=True)
            if rule.kind != "requests"
        ]


class MemoryCounters:
    __slots__ = ("__weakref__", "_cells", "_clock", "_sweeps", "_takes")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cells: dict[str, list[int]] = {}  # rule name -> [window id, count, window]
        self._takes = 0
        self._sweeps = 0

    def _prepared(self, rules: RuleList) -> _Prepared:
        prepared = rules.prepared
        if (
            not isinstance(prepared, _Prepared)
            or prepared.owner is not self
            or prepared.sweeps != self._sweeps
        ):
            prepared = rules.prepared = _Prepared(self, self._sweeps, rules)
        return prepared

    async def take(self, rules: RuleList, estimate: int) -> Taken:
        return self.take_now(rules, estimate)

    async def take_both(
        self, first: RuleList, second: RuleList, estimate: int
    ) -> tuple[Taken, Taken | None]:
        taken = self.take_now(first, estimate)  # no await between the two: one step
        return taken, self.take_now(second, estimate) if taken.allowed else None

    def take_ahead(self, first: RuleList, second: RuleList, estimate: int) -> None:
        return None  # a take costs no round trip here: nothing to send ahead

    def take_now(self, rules: RuleList, estimate: int) -> Taken:
        prepared = self._prepared(rules)
        now = self._clock()
        allowed = True
        for cell, window, limit, tokens in prepared.rules:
            if window:
                window_id = int(now // window)
                if cell[0] != window_id:  # a new window
                    cell[0] = window_id
                    cell[1] = 0
            # ``limit_policy.cost``: 1, or the estimate capped at the limit for tokens.
            if cell[1] + (min(estimate, limit) if tokens else 1) > limit:
                allowed = False
        if allowed:
            for cell, _window, limit, tokens in prepared.rules:
                cell[1] += min(estimate, limit) if tokens else 1
        used = [cell[1] for cell in prepared.cells]
        self._takes += 1
        if self._takes >= SWEEP_EVERY:
            self._sweep(now)
        return Taken(allowed, used, now, prepared)

    def give_back(self, taken: Taken, rules: RuleList, tokens: int, inflight: int) -> None:
        prepared: _Prepared = taken.handles
        now = taken.now
        for cell, window, kind in prepared.ends:
            delta = tokens if kind == _TOKENS else inflight
            # A window that has passed keeps nothing of the call (nor does a cell swept
            # meanwhile: it is no longer the counter, and a new one counts from 0).
            if delta and (not window or cell[0] == int(now // window)):
                value = cell[1] + delta
                cell[1] = value if value > 0 else 0

    def untake(self, taken: Taken, rules: RuleList, estimate: int) -> None:
        prepared: _Prepared = taken.handles
        now = taken.now
        for cell, window, limit, tokens in prepared.rules:
            if not window or cell[0] == int(now // window):
                value = cell[1] - (min(estimate, limit) if tokens else 1)
                cell[1] = value if value > 0 else 0

    def failed(self, exc: BaseException) -> bool:
        return False

    async def close(self) -> None:
        return None

    def _sweep(self, now: float) -> None:
        """Forget the cells at 0 and those of windows that have passed (a new cell counts
        from 0 alike); the rule lists look theirs up again on their next take."""
        self._takes = 0
        stale = [
            name
            for name, (window_id, count, window) in self._cells.items()
            if count == 0 or (window and window_id < int(now // window))
        ]
        for name in stale:
            del self._cells[name]
        self._sweeps += 1
