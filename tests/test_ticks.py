"""Coarse timers: a deadline fires late by at most a tick, never early, once; cancelled, it
never fires; a task's deadline cancels it and is told apart from another cancellation."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from airelay import ticks


def run(main: object) -> None:
    uvloop.run(main)  # type: ignore[arg-type]


def test_fires_late_by_at_most_a_tick_never_early() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        timers = ticks.of(loop)
        fired: list[tuple[str, float]] = []
        start = loop.time()

        def note(name: str) -> ticks.Callback:
            return lambda: fired.append((name, loop.time()))

        for name, delay in (("a", 0.01), ("b", 0.12), ("c", 0.12)):
            timers.later(delay, note(name))
        never = note("never")
        timers.later(0.05, never).discard(never)
        await asyncio.sleep(0.12 + 2 * ticks.TICK)
        assert sorted(name for name, _ in fired) == ["a", "b", "c"]
        due = {"a": 0.01, "b": 0.12, "c": 0.12}
        for name, when in fired:
            assert due[name] <= when - start <= due[name] + ticks.TICK + 0.05
        assert len(timers) == 0

    run(main())


def test_a_failing_callback_does_not_stop_the_others() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        fired = []

        def fail() -> None:
            raise RuntimeError("boom")

        timers = ticks.of(loop)
        timers.later(0.0, fail)
        timers.later(0.0, lambda: fired.append(1))
        await asyncio.sleep(2 * ticks.TICK)
        assert fired == [1]

    run(main())


def test_each_loop_has_its_own() -> None:
    seen = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen.append(ticks.of(loop))
        assert ticks.of(loop) is seen[-1]
        done = asyncio.Event()
        ticks.of(loop).later(0.0, done.set)
        await asyncio.wait_for(done.wait(), 1)

    run(main())
    run(main())
    assert seen[0] is not seen[1]


def test_task_deadline_cancels_and_is_caught() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        deadline = ticks.TaskDeadline(loop, task, 0.01)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.sleep(5)
        assert deadline.expired and deadline.caught()
        assert task.cancelling() == 0  # taken back: the task goes on
        await asyncio.sleep(0)
        # Stopped in time: never fires.
        stopped = ticks.TaskDeadline(loop, task, 0.01)
        stopped.stop()
        await asyncio.sleep(0.01 + 2 * ticks.TICK)
        assert not stopped.expired

    run(main())


def test_another_cancellation_is_not_swallowed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        outcome: list[str] = []

        async def body() -> None:
            task = asyncio.current_task()
            assert task is not None
            deadline = ticks.TaskDeadline(loop, task, 0.01)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                outcome.append("caught" if deadline.caught() else "passed on")
                raise

        # Cancelled from outside, with the deadline far away: not the deadline's.
        task = loop.create_task(body())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert outcome == ["passed on"]

    run(main())


def test_long_waits_share_coarse_ticks() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        def noop() -> None:
            return None

        # An hour-long limit started every millisecond for a minute: one tick per minute.
        timers = ticks.Ticks(loop)
        now = loop.time()
        for i in range(60_000):
            timers.at(now + 3600 + i / 1000, lambda: None)
        assert timers.pending <= 3
        # Short waits keep fine ticks, 50 ms apart.
        short = ticks.Ticks(loop)
        for i in range(100):
            short.at(now + 1 + i * ticks.TICK, noop)
        assert short.pending >= 95
        # Each tick is due after its deadline, by at most 50 ms or 1/40 of the wait.
        for wait in (0.01, 0.5, 19.0, 25.0, 300.0, 3000.0, 9000.0):
            one = ticks.Ticks(loop)
            when = loop.time() + wait
            filed = one.at(when, noop)
            (tick,) = [t for t, found in one._filed.items() if found is filed]
            assert when <= tick <= when + max(ticks.TICK, wait / 40) + 1e-6

    run(main())
