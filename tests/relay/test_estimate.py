"""The usage a stream without upstream usage is billed and told: counted at once, without
even yielding to the event loop, for short texts when the encoding is loaded here; by the
counting process for long ones, with the same count."""

from __future__ import annotations

import asyncio
from typing import Any

from airelay.billing import tokenizer
from airelay.billing.tokens import INLINE_CHARS, estimate_tokens, settled
from airelay.formats.names import WireFormat
from airelay.formats.usage import Usage
from airelay.relay.estimate import estimate_usage

PROMPT = "What do foxes eat?"


class Call:
    client = WireFormat.OPENAI
    model = "gpt-4o"
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": PROMPT}]}


def test_short_texts_are_counted_without_yielding() -> None:
    tokenizer.preload("o200k_base")

    async def main() -> None:
        coro = estimate_usage(Call(), "Mice, rabbits and berries.")  # type: ignore[arg-type]
        try:
            coro.send(None)
        except StopIteration as done:
            usage = done.value
        else:  # pragma: no cover - the failure this test exists for
            coro.close()
            raise AssertionError("a short estimate yielded to the event loop")
        assert usage.prompt_tokens == estimate_tokens(PROMPT, "gpt-4o")
        assert usage.completion_tokens == estimate_tokens("Mice, rabbits and berries.", "gpt-4o")

    asyncio.run(main())


def test_long_texts_are_counted_off_the_loop_to_the_same_count() -> None:
    text = "foxes " * INLINE_CHARS

    async def main() -> Usage:
        try:
            return await estimate_usage(Call(), text)  # type: ignore[arg-type]
        finally:
            await settled()  # the counting process ends with the loop

    usage = asyncio.run(main())
    assert usage.completion_tokens == estimate_tokens(text, "gpt-4o") > INLINE_CHARS // 2
    assert usage.prompt_tokens == estimate_tokens(PROMPT, "gpt-4o")
