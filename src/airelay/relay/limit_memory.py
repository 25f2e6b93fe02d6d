"""The in-process rate-limit counters (the default): plain dicts on the event loop, so no
lock is needed (a ``take`` never awaits between its check and its count). Windows are
fixed and aligned on the clock, like the Redis backend's, so the two count alike.

One instance's counts only: several instances each enforce the limit on their own share;
set ``AIRELAY_REDIS_URL`` for one count across instances."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from airelay.relay.limit_policy import Rule, Taken, cost, delta_of

#: Takes between two sweeps of the windows that have ended.
SWEEP_EVERY = 10_000


class MemoryCounters:
    __slots__ = ("_clock", "_inflight", "_takes", "_windows")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # rule name -> [window id, count, window seconds]
        self._windows: dict[str, list[int]] = {}
        self._inflight: dict[str, int] = {}  # rule name -> calls in flight
        self._takes = 0

    async def take(self, rules: Sequence[Rule], estimate: int) -> Taken:
        return self.take_now(rules, estimate)

    def take_now(self, rules: Sequence[Rule], estimate: int) -> Taken:
        now = self._clock()
        costs = [cost(rule, estimate) for rule in rules]
        windows, inflight = self._windows, self._inflight
        used: list[int] = []
        resets: list[float] = []
        ids: list[int] = []
        # Per windowed rule, its entry (a new one is stored only if the call is counted).
        entries: list[list[int] | None] = []
        allowed = True
        for rule, counted in zip(rules, costs, strict=True):
            window = rule.window
            if window:
                window_id = int(now // window)
                entry = windows.get(rule.name)
                if entry is None or entry[0] != window_id:
                    entry = [window_id, 0, window]
                count = entry[1]
                resets.append((window_id + 1) * window - now)
                entries.append(entry)
            else:
                window_id = 0
                count = inflight.get(rule.name, 0)
                resets.append(0.0)
                entries.append(None)
            if count + counted > rule.limit:
                allowed = False
            used.append(count)
            ids.append(window_id)
        if allowed:
            for index, rule in enumerate(rules):
                counted = costs[index]
                entry = entries[index]
                if entry is not None:
                    if not entry[1]:  # new, or left at 0 by give-backs: (re)stored
                        windows[rule.name] = entry
                    entry[1] += counted
                else:
                    inflight[rule.name] = inflight.get(rule.name, 0) + counted
                used[index] += counted
        self._takes += 1
        if self._takes >= SWEEP_EVERY:
            self._sweep(now)
        return Taken(allowed, used, resets, ids)

    def give_back(self, taken: Taken, rules: Sequence[Rule], tokens: int, inflight: int) -> None:
        ids: list[int] = taken.handles
        for rule, window_id in zip(rules, ids, strict=True):
            delta = delta_of(rule, tokens, inflight)
            if not delta:
                continue
            if rule.window:
                entry = self._windows.get(rule.name)
                if entry is not None and entry[0] == window_id:
                    entry[1] = max(0, entry[1] + delta)
            else:
                left = self._inflight.get(rule.name, 0) + delta
                if left > 0:
                    self._inflight[rule.name] = left
                else:
                    self._inflight.pop(rule.name, None)

    def failed(self, exc: BaseException) -> bool:
        return False

    async def close(self) -> None:
        return None

    def _sweep(self, now: float) -> None:
        """Forget windows that have ended (a key or model seen once would stay forever)."""
        self._takes = 0
        stale = [
            name
            for name, (window_id, _count, window) in self._windows.items()
            if window_id < int(now // window)
        ]
        for name in stale:
            del self._windows[name]
