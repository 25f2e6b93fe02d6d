"""A call's deferred rate-limit take sent ahead of its first attempt (``RateLimits.prefetch``):
over Redis, the take's round trip then runs while the call is priced and reserved, and the
first attempt only awaits its answer.

The take counts the key's rules with those of the channel the call will most likely try
first. Whatever of it the call does not keep goes back: the channel's part when the attempt
goes to another channel (its circuit opened) or to none (the call was refused first), and
all of it when the call ends, or its caller leaves, before the answer is awaited.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from airelay.relay.limit_policy import RuleList, Taken
from airelay.store.snapshot import ChannelRecord

if TYPE_CHECKING:
    from airelay.relay.limits import Counters, Lease


class Ahead:
    """A deferred lease's take sent ahead of its first attempt: the key's rules, with those
    of ``channel`` (the channel the call will try first, unless its circuit is open)."""

    __slots__ = ("channel", "counters", "estimate", "key_rules", "rules", "take")

    def __init__(
        self, counters: Counters, key: Lease, channel: ChannelRecord | None, found: RuleList
    ) -> None:
        self.counters = counters
        self.key_rules = key.rules
        self.estimate = key.estimate
        self.channel = channel
        self.rules = found
        work = counters.take_ahead(key.rules, found, key.estimate)
        self.take: asyncio.Future[tuple[Taken, Taken | None]] = asyncio.ensure_future(work)

    async def result(self) -> tuple[Taken, Taken | None]:
        """The take's answer. A caller that leaves meanwhile does not stop the take: what
        it counts goes back when it lands."""
        try:
            return await asyncio.shield(self.take)
        except asyncio.CancelledError:
            self.abandon()
            raise

    def abandon(self) -> None:
        """The call ends without the take's answer: all it counts goes back."""
        self.take.add_done_callback(self._landed)

    def _landed(self, take: asyncio.Future[tuple[Taken, Taken | None]]) -> None:
        if take.cancelled() or take.exception() is not None:
            return
        taken, channel_taken = take.result()
        if taken.allowed:
            self.counters.untake(taken, self.key_rules, self.estimate)
        if channel_taken is not None and channel_taken.allowed:
            self.counters.untake(channel_taken, self.rules, self.estimate)
