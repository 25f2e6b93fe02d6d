"""Thinking on a translated call: signatures sealed toward the client, opened toward their
own upstream only, and no thinking asked of a model the catalog says does not reason.

Same-format calls never come here: their bytes pass through untouched. The rules live in
``formats.thinking`` (pure); this is where the relay applies them, with the channel that
serves the attempt as the origin or the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from airelay.formats.codec import StreamDecoder
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

    def decoder(self, decoder: StreamDecoder, fmt: str, channel_id: str) -> StreamDecoder:
        return _SealingDecoder(decoder, Origin(fmt, channel_id), self.sealer)


_COMMON: dict[tuple[int, bool], ThinkingPolicy] = {}


class _SealingDecoder:
    """An upstream stream decoder whose reasoning signatures come out sealed."""

    def __init__(self, inner: StreamDecoder, origin: Origin, sealer: Sealer) -> None:
        self._inner = inner
        self._origin = origin
        self._sealer = sealer

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        return self._sealed(self._inner.feed(name, data))

    def close(self) -> list[StreamEvent]:
        return self._sealed(self._inner.close())

    def _sealed(self, events: list[StreamEvent]) -> list[StreamEvent]:
        if not any(type(event) is ReasoningDelta for event in events):
            return events
        origin, sealer = self._origin, self._sealer
        return [seal_event(event, origin, sealer) for event in events]
