"""Stream helpers shared by the codec tests: a response as the IR events a stream of it
would carry, and the reverse (``assemble``).

``response_to_events`` is the reference stream: feeding its events to a codec's stream
encoder, the bytes to that codec's stream decoder, and the decoded events to an
``Assembler`` must give back the response (within what the format can carry).
"""

from __future__ import annotations

from collections.abc import Iterable

from airelay.formats.ir import (
    Assembler,
    ChatResponse,
    Finish,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
    StreamStart,
    Text,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
)

__all__ = ["assemble", "response_to_events", "split"]


def split(text: str, pieces: int) -> list[str]:
    """``text`` cut into at most ``pieces`` non-empty fragments that join back to it
    (one fragment, possibly empty, when there is nothing to cut)."""
    if len(text) <= 1 or pieces <= 1:
        return [text]
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


def response_to_events(
    resp: ChatResponse, *, pieces: int = 3, usage_at_start: bool = False
) -> list[StreamEvent]:
    """The events of a stream that says what ``resp`` says.

    StreamStart, then per choice (in order): reasoning as ReasoningDelta fragments (the
    signature, if any, on a last ``ReasoningDelta("", signature)``), text as TextDelta
    fragments, each tool call as ToolCallStart + ToolCallDelta fragments of its arguments,
    then Finish (when the choice has a finish reason); UsageReport last when the response has
    usage. ``usage_at_start`` also puts the usage on StreamStart (as formats that report
    input tokens up front do)."""
    events: list[StreamEvent] = [
        StreamStart(resp.id, resp.model, resp.created, resp.usage if usage_at_start else None)
    ]
    for choice in resp.choices:
        c = choice.index
        call = 0
        for part in choice.message.parts:
            if isinstance(part, Reasoning):
                events += [ReasoningDelta(t, None, c) for t in split(part.text, pieces)]
                if part.signature:
                    events.append(ReasoningDelta("", part.signature, c))
            elif isinstance(part, Text):
                events += [TextDelta(t, c) for t in split(part.text, pieces)]
            elif isinstance(part, ToolCall):
                events.append(ToolCallStart(call, part.id, part.name, c))
                events += [ToolCallDelta(call, t, c) for t in split(part.arguments, pieces) if t]
                call += 1
        if choice.finish_reason is not None:
            events.append(Finish(choice.finish_reason, c))
    if resp.usage is not None:
        events.append(UsageReport(resp.usage))
    return events


def assemble(events: Iterable[StreamEvent]) -> ChatResponse:
    """The response a stream of events stands for."""
    assembler = Assembler()
    for event in events:
        assembler.feed(event)
    return assembler.response
