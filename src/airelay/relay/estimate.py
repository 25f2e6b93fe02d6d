"""Usage counted offline, for an upstream that reported none: a stream that ended early or
was abandoned (the prompt, and the text it produced), a complete stream whose upstream sent
no usage (counted before the stream's last event, so that the client is told what is
billed), and a non-stream call whose client left and whose answer did not come within
``dropped_call_read_seconds`` (the prompt alone: what was generated is unknown)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from airelay.billing.tokens import estimate_tokens_then
from airelay.formats.registry import body
from airelay.formats.usage import Usage
from airelay.relay.call import Call
from airelay.relay.metering import Meter


def _prompt_text(call: Call) -> str:
    try:
        return body(call.client).prompt_text(call)
    except Exception:  # a request it cannot read again: bill the rest rather than nothing
        return ""


def settle_on_estimate(
    meter: Meter, call: Call, completion_text: str, *, channel_id: str | None, status: int
) -> None:
    """Settle ``meter`` on the prompt's and ``completion_text``'s tokens counted offline.
    The meter closes now; long texts are counted in a worker thread (never on the event
    loop), so the charge may follow a few milliseconds later."""
    charge = meter.settle_later(channel_id=channel_id, status=status)
    if charge is None:
        return
    known = call.known or Usage()  # what the request tells it bills (an upload's seconds)
    estimate_tokens_then(
        (_prompt_text(call), completion_text), call.model, _usage_for(charge, known)
    )


def _usage_for(charge: Callable[[Usage], int], known: Usage) -> Callable[[list[int]], int]:
    return lambda counts: charge(
        dataclasses.replace(known, prompt_tokens=counts[0], completion_tokens=counts[1])
    )


async def estimate_usage(call: Call, completion_text: str) -> Usage:
    """The usage ``settle_on_estimate`` would bill, as a value: short texts are counted at
    once (the awaited future is already done, so the task does not even yield), long ones
    in a worker thread."""
    counted: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()

    def deliver(counts: list[int]) -> None:
        if not counted.done():  # the awaiting task may have been cancelled meanwhile
            counted.set_result(counts)

    estimate_tokens_then((_prompt_text(call), completion_text), call.model, deliver)
    prompt, completion = await counted
    return Usage(prompt_tokens=prompt, completion_tokens=completion)
