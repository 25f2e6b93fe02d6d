"""Usage counted offline, for an upstream that reported none: a stream that ended early or
was abandoned (the prompt, and the text it produced), and a non-stream call whose client
left and whose answer did not come within ``dropped_call_read_seconds`` (the prompt alone:
what was generated is unknown)."""

from __future__ import annotations

from airelay.billing.tokens import estimate_tokens
from airelay.formats.registry import body
from airelay.formats.usage import Usage
from airelay.relay.call import Call


def estimated_usage(call: Call, completion_text: str) -> Usage:
    prompt = estimate_tokens(body(call.client).prompt_text(call), call.model)
    return Usage(
        prompt_tokens=prompt, completion_tokens=estimate_tokens(completion_text, call.model)
    )
