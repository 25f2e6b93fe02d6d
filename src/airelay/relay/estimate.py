"""Usage counted offline, for an upstream that reported none: a stream that ended early or
was abandoned (the prompt, and the text it produced), and a non-stream call whose client
left and whose answer did not come within ``dropped_call_read_seconds`` (the prompt alone:
what was generated is unknown)."""

from __future__ import annotations

from typing import Any

from airelay.billing.tokens import estimate_tokens
from airelay.formats import openai_chat
from airelay.formats.ir import ChatRequest
from airelay.formats.usage import Usage
from airelay.relay.call import ChatCall


def answer_text(answer: Any) -> str:
    parts: list[str] = []
    for choice in answer.choices:
        for part in choice.message.parts:
            for name in ("text", "arguments"):
                value = getattr(part, name, None)
                if isinstance(value, str):
                    parts.append(value)
    return "".join(parts)


def estimated_usage(call: ChatCall, completion_text: str) -> Usage:
    if call.client == "openai":
        prompt = estimate_tokens(openai_chat.prompt_text(call.payload), call.model)
    else:
        prompt = estimate_tokens(_ir_text(call.request_ir()), call.model)
    return Usage(
        prompt_tokens=prompt, completion_tokens=estimate_tokens(completion_text, call.model)
    )


def _ir_text(request: ChatRequest) -> str:
    texts: list[str] = []
    for message in request.messages:
        for part in message.parts:
            for name in ("text", "arguments"):
                value = getattr(part, name, None)
                if isinstance(value, str):
                    texts.append(value)
    return "\n".join(texts)
