"""Coarse timers for the waits of every call: one loop timer per tick, shared by all the
deadlines that end in it.

A call waits several times under a timeout: for the upstream's head, for each piece of its
body, and a stream under its total limit. With uvloop, arming and cancelling a timer costs
~2.5 µs (``asyncio.timeout`` ~7 µs), several times per call; yet these timeouts are seconds
long and almost never fire. Here a deadline is rounded up to the next tick and its callback
filed in that tick's set: one loop timer per tick that has callbacks runs the ones still
filed. Filing is a set ``add``, cancelling a ``discard``.

Ticks are finer for short waits (``STEPS``: 50 ms under 20 s, up to a minute for waits of
40 minutes or more), so that a callback runs late by at most 50 ms or 1/40 of its wait,
never early, and the ticks pending stay about a thousand at most whatever the waits (an
hour-long stream limit, started every millisecond, keeps one tick per minute, not one per
50 ms). A callback
is filed once per tick (a set holds it once): a waiter files its own bound method, one wait
at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

#: (waits shorter than this, seconds per tick for them), shortest first; the last holds all.
STEPS = ((20.0, 0.05), (200.0, 0.5), (2400.0, 5.0), (float("inf"), 60.0))
#: The finest tick: how late a short deadline may fire.
TICK = STEPS[0][1]

Callback = Callable[[], object]


class Ticks:
    """The coarse timers of one event loop."""

    __slots__ = ("_filed", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._filed: dict[float, set[Callback]] = {}  # a tick's loop time -> callbacks due

    def at(self, when: float, callback: Callback) -> set[Callback]:
        """Run ``callback`` at loop time ``when`` (late by at most its wait's tick: see
        ``STEPS``); the set returned holds it until then: ``discard(callback)`` on it
        cancels."""
        step = _step(when - self.loop.time())
        tick = (int(when / step) + 1) * step
        filed = self._filed.get(tick)
        if filed is None:
            filed = self._filed[tick] = set()
            self.loop.call_at(tick, self._run, tick)
        filed.add(callback)
        return filed

    def later(self, delay: float, callback: Callback) -> set[Callback]:
        """``at`` ``delay`` seconds from now."""
        return self.at(self.loop.time() + delay, callback)

    def _run(self, tick: float) -> None:
        filed = self._filed.pop(tick, None)
        if not filed:
            return
        for callback in list(filed):
            try:
                callback()
            except Exception:  # one failing callback must not keep the others from running
                log.exception("a timer's callback failed")

    def __len__(self) -> int:
        """Callbacks filed (tests)."""
        return sum(len(filed) for filed in self._filed.values())

    @property
    def pending(self) -> int:
        """Ticks with a loop timer armed (tests)."""
        return len(self._filed)


def _step(wait: float) -> float:
    for longest, step in STEPS:
        if wait < longest:
            return step
    return STEPS[-1][1]


_current: Ticks | None = None


def of(loop: asyncio.AbstractEventLoop) -> Ticks:
    """The coarse timers of ``loop`` (made on first use; a process usually runs one loop)."""
    global _current
    ticks = _current
    if ticks is None or ticks.loop is not loop:
        ticks = _current = Ticks(loop)
    return ticks


class TaskDeadline:
    """Cancels ``task`` once ``seconds`` have passed (coarsely): ``asyncio.timeout`` for a
    whole stream, at the cost of a set ``add`` and ``discard``. After a ``CancelledError``,
    ``caught()`` says whether it was this deadline's."""

    __slots__ = ("_cancelling", "_filed", "_task", "expired")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], seconds: float):
        self.expired = False
        self._task = task
        self._cancelling = task.cancelling()
        self._filed = of(loop).later(seconds, self)

    def __call__(self) -> None:
        self.expired = True
        self._task.cancel()

    def caught(self) -> bool:
        """Whether the ``CancelledError`` being handled is this deadline's alone (then it
        is taken back from the task, as ``asyncio.timeout`` does); else it must go on."""
        return self.expired and self._task.uncancel() <= self._cancelling

    def stop(self) -> None:
        self._filed.discard(self)
