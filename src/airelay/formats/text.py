"""The text of a request or an answer in the IR, for offline token estimates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airelay.formats.ir import ChatRequest, ChatResponse


def _texts(parts: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for part in parts:
        for name in ("text", "arguments"):
            value = getattr(part, name, None)
            if isinstance(value, str):
                out.append(value)
    return out


def answer_text(answer: ChatResponse) -> str:
    """What an answer generated: text and tool-call arguments of every choice."""
    return "".join(text for choice in answer.choices for text in _texts(choice.message.parts))


def request_text(request: ChatRequest) -> str:
    """What a request's messages say: text and tool-call arguments."""
    return "\n".join(text for message in request.messages for text in _texts(message.parts))
