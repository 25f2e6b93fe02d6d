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
import functools
from typing import TYPE_CHECKING, Any, Protocol

from airelay.relay.limit_policy import RuleList, Taken
from airelay.store.snapshot import ChannelRecord

if TYPE_CHECKING:
    from airelay.relay.limits import Counters, Lease


class Sent(Protocol):
    """A take written ahead by a backend (``Counters.take_ahead``)."""

    #: Done when the answer came (or the connection was lost).
    future: asyncio.Future[Any]

    def parsed(self) -> tuple[Taken, Taken | None]:
        """The answer, once ``future`` is done; raises what lost it."""
        ...

    async def answer(self) -> tuple[Taken, Taken | None]:
        """``parsed``, with what the backend does when its answer says to try again."""
        ...


class Ahead:
    """A deferred lease's take sent ahead of its first attempt: the key's rules, with those
    of ``channel`` (the channel the call will try first, unless its circuit is open)."""

    __slots__ = ("channel", "counters", "estimate", "key_rules", "rules", "sent")

    def __init__(
        self,
        counters: Counters,
        key: Lease,
        channel: ChannelRecord | None,
        found: RuleList,
        sent: Sent,
    ) -> None:
        self.counters = counters
        self.key_rules = key.rules
        self.estimate = key.estimate
        self.channel = channel
        self.rules = found
        self.sent = sent

    async def result(self) -> tuple[Taken, Taken | None]:
        """The take's answer. A caller that leaves meanwhile leaves the answer to come:
        what it counts goes back when it lands. (A plain future to wait on, not a task:
        this is on every call's path.)"""
        future = self.sent.future
        if not future.done():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.add_done_callback(functools.partial(_wake, waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                self.abandon()
                raise
        return await self.sent.answer()

    def abandon(self) -> None:
        """The call ends without the take's answer: all it counts goes back."""
        self.sent.future.add_done_callback(self._landed)

    def _landed(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        try:
            taken, channel_taken = self.sent.parsed()
        except Exception:  # lost, or an error answer: nothing was counted
            return
        if taken.allowed:
            self.counters.untake(taken, self.key_rules, self.estimate)
        if channel_taken is not None and channel_taken.allowed:
            self.counters.untake(channel_taken, self.rules, self.estimate)


def _wake(waiter: asyncio.Future[None], _: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)
