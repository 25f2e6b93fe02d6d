"""Usage counted offline, for an upstream that reported none: a stream that ended early or
was abandoned (the prompt, and the text it produced), and a non-stream call whose client
left and whose answer did not come within ``dropped_call_read_seconds`` (the prompt alone:
what was generated is unknown)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airelay.billing.tokens import estimate_tokens_then
from airelay.formats import openai_chat
from airelay.formats.ir import ChatRequest
from airelay.formats.usage import Usage
from airelay.relay.call import ChatCall
from airelay.relay.metering import Meter


def answer_text(answer: Any) -> str:
    parts: list[str] = []
    for choice in answer.choices:
        for part in choice.message.parts:
            for name in ("text", "arguments"):
                value = getattr(part, name, None)
                if isinstance(value, str):
                    parts.append(value)
    return "".join(parts)


def settle_on_estimate(
    meter: Meter, call: ChatCall, completion_text: str, *, channel_id: str | None, status: int
) -> None:
    """Settle ``meter`` on the prompt's and ``completion_text``'s tokens counted offline.
    The meter closes now; long texts are counted in a worker thread (never on the event
    loop), so the charge may follow a few milliseconds later."""
    charge = meter.settle_later(channel_id=channel_id, status=status)
    if charge is None:
        return
    try:
        if call.client == "openai":
            prompt = openai_chat.prompt_text(call.payload)
        else:
            prompt = _ir_text(call.request_ir())
    except Exception:  # a request it cannot read again: bill the rest rather than nothing
        prompt = ""
    estimate_tokens_then((prompt, completion_text), call.model, _usage_for(charge))


def _usage_for(charge: Callable[[Usage], int]) -> Callable[[list[int]], int]:
    return lambda counts: charge(Usage(prompt_tokens=counts[0], completion_tokens=counts[1]))


def _ir_text(request: ChatRequest) -> str:
    texts: list[str] = []
    for message in request.messages:
        for part in message.parts:
            for name in ("text", "arguments"):
                value = getattr(part, name, None)
                if isinstance(value, str):
                    texts.append(value)
    return "\n".join(texts)
