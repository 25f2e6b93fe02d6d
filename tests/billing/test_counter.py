"""The counting process: exact counts, many in flight at once, retired when idle and back on
the next count, and, when it dies or cannot start, counts that still come (in-process)."""

from __future__ import annotations

import asyncio
import io
import os
import signal

import pytest

from airelay.billing import counter, tokenizer, tokens
from airelay.billing.counter import Counter, CounterUnavailable, frame
from airelay.billing.counter_child import serve

TEXTS = ["hello world", "Füchse fressen Mäuse. 狐狸吃老鼠。", "def f(x):\n    return x * 2\n"]


def expected(name: tokenizer.EncodingName, texts: list[str]) -> list[int]:
    return [tokenizer.count(text, name) for text in texts]


def test_counts_are_tiktokens_and_many_can_be_in_flight() -> None:
    async def main() -> None:
        box = Counter()
        try:
            batches = [[*TEXTS[i:], str(i) * (i * 100)] for i in range(3)] * 10
            names: list[tokenizer.EncodingName] = ["o200k_base", "cl100k_base"] * 15
            calls = [box.count(n, b) for n, b in zip(names, batches, strict=True)]
            got = await asyncio.gather(*calls)
            for name, batch, counts in zip(names, batches, got, strict=True):
                assert counts == expected(name, batch)
        finally:
            await box.close()
        assert not box.running

    asyncio.run(main())


def test_an_idle_child_is_retired_and_the_next_count_starts_another() -> None:
    async def main() -> None:
        box = Counter(idle_seconds=0.05)
        try:
            assert await box.count("o200k_base", TEXTS) == expected("o200k_base", TEXTS)
            first = box._proc
            assert first is not None
            await asyncio.wait_for(first.wait(), 10)  # retired: end of input, the child exits
            assert not box.running
            assert await box.count("o200k_base", TEXTS[:1]) == expected("o200k_base", TEXTS[:1])
            assert box._proc is not first
        finally:
            await box.close()

    asyncio.run(main())


def test_a_dead_child_fails_its_counts_and_billing_counts_in_process() -> None:
    async def main() -> None:
        assert await tokens.count_texts(TEXTS, "o200k_base") == expected("o200k_base", TEXTS)
        proc = counter.COUNTER._proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        # The next count finds the pipe closed: counted in a thread here, same numbers.
        assert await tokens.count_texts(TEXTS, "o200k_base") == expected("o200k_base", TEXTS)
        # And for a while the child is not started again.
        with pytest.raises(CounterUnavailable):
            await counter.COUNTER.count("o200k_base", TEXTS)
        await tokens.settled()

    try:
        asyncio.run(main())
    finally:
        counter.COUNTER._failed_at = -counter.RETRY_AFTER_SECONDS


def test_the_child_answers_a_bad_frame_with_an_error_and_ends_at_end_of_input() -> None:
    import msgspec

    good = frame(msgspec.msgpack.encode(["o200k_base", TEXTS]))
    bad = frame(msgspec.msgpack.encode(["p50k_base", TEXTS]))
    out = io.BytesIO()
    serve(io.BytesIO(bad + good + good[:3]), out)  # a torn last frame: end of input
    data = out.getvalue()
    answers = []
    while data:
        size = int.from_bytes(data[:4], "big")
        answers.append(msgspec.msgpack.decode(data[4 : 4 + size]))
        data = data[4 + size :]
    assert "error" in answers[0]
    assert answers[1] == expected("o200k_base", TEXTS)
    assert len(answers) == 2


def test_a_loop_that_ends_with_the_child_running_ends_the_child() -> None:
    box = Counter()

    async def main() -> asyncio.subprocess.Process:
        await box.count("o200k_base", TEXTS)
        assert box._proc is not None
        return box._proc  # no close(): asyncio.run's shutdown must end it

    proc = asyncio.run(main())
    assert proc.returncode is not None
    assert not box.running
