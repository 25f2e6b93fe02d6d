"""Usage counted offline, for an upstream that reported none: a stream that ended early or
was abandoned (the prompt, and the text it produced), and a non-stream call whose client
left and whose answer did not come within ``dropped_call_read_seconds`` (the prompt alone:
what was generated is unknown)."""

from __future__ import annotations

from collections.abc import Callable

from airelay.billing.tokens import estimate_tokens_then
from airelay.formats.registry import body
from airelay.formats.usage import Usage
from airelay.relay.call import Call
from airelay.relay.metering import Meter


def settle_on_estimate(
    meter: Meter, call: Call, completion_text: str, *, channel_id: str | None, status: int
) -> None:
    """Settle ``meter`` on the prompt's and ``completion_text``'s tokens counted offline.
    The meter closes now; long texts are counted in a worker thread (never on the event
    loop), so the charge may follow a few milliseconds later."""
    charge = meter.settle_later(channel_id=channel_id, status=status)
    if charge is None:
        return
    try:
        prompt = body(call.client).prompt_text(call)
    except Exception:  # a request it cannot read again: bill the rest rather than nothing
        prompt = ""
    estimate_tokens_then((prompt, completion_text), call.model, _usage_for(charge))


def _usage_for(charge: Callable[[Usage], int]) -> Callable[[list[int]], int]:
    return lambda counts: charge(Usage(prompt_tokens=counts[0], completion_tokens=counts[1]))
