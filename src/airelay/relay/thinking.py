"""Thinking on a translated call: signatures sealed toward the client, opened toward their
own upstream only, and no thinking asked of a model the catalog says does not reason.

Same-format calls never come here: their bytes pass through untouched. The rules live in
``formats.thinking`` (pure); this is where the relay applies them, with the channel that
serves the attempt as the origin or the target.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from airelay.formats.ir import ChatRequest, ChatResponse, Origin, ReasoningDelta, StreamEvent
from airelay.formats.thinking import (
    SEALED_PREFIX,
    Sealer,
    seal_event,
    seal_response,
    unseal_request,
    without_thinking,
)

SEALED_BYTES: Final = SEALED_PREFIX.encode("ascii")


@dataclass(frozen=True, slots=True)
class ThinkingPolicy:
    """What a call's translated attempts do with thinking. ``reasons``: the routed model
    reasons (the catalog's ``reasoning`` flag; true when the catalog does not know it)."""

    @classmethod
    def of(cls, sealer: Sealer, reasons: bool, body: bytes) -> ThinkingPolicy:
        if SEALED_BYTES in body:
            return cls(sealer, reasons, True)
        # Most calls carry no token: one shared policy per sealer and flag, not one each.
        made = _COMMON.get((id(sealer), reasons))
        if made is None or made.sealer is not sealer:
            made = _COMMON[id(sealer), reasons] = cls(sealer, reasons)
        return made

    sealer: Sealer
    reasons: bool = True
    # The client's body holds a token the gateway sealed: even a channel of the client's
    # own format gets the request through the IR, without it (it is another format's).
    carries_tokens: bool = False

    def request_for(self, request: ChatRequest, fmt: str, channel_id: str) -> ChatRequest:
        """The request as it goes to ``channel_id`` speaking ``fmt``: its thinking request
        dropped for a model that does not reason, the signatures that channel made opened,
        every other one dropped."""
        if not self.reasons:
            request = without_thinking(request)
        return unseal_request(request, Origin(fmt, channel_id), self.sealer)

    def seal_answer(self, answer: ChatResponse, fmt: str, channel_id: str) -> None:
        seal_response(answer, Origin(fmt, channel_id), self.sealer)

    def sealing(self, fmt: str, channel_id: str) -> Callable[[ReasoningDelta], StreamEvent]:
        """What a reasoning delta of a stream from ``channel_id`` speaking ``fmt`` becomes
        on its way to the client: its signature sealed. Only reasoning deltas need it, so
        the stream applies it to those alone (text, the bulk, never pays for it)."""
        return functools.partial(seal_event, origin=Origin(fmt, channel_id), sealer=self.sealer)


_COMMON: dict[tuple[int, bool], ThinkingPolicy] = {}
