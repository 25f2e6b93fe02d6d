"""Chat streams in each wire format, as upstreams send them, for relay tests: a model
answer whose text spells every format's end marker (``[DONE]``, ``message_stop``,
``"finishReason"``, also as a tool call's argument name), whole or cut before its real end.
Both sides report 7 prompt and 11 completion tokens when whole."""

from __future__ import annotations

import orjson

TEXT = (
    'Say [DONE] or message_stop or "finishReason": "STOP" or response.completed'
    " or response.incomplete here"
)


def _sse(data: object, name: str | None = None, crlf: bool = False) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + orjson.dumps(data) + (b"\r\n\r\n" if crlf else b"\n\n")


def openai_stream(model: str, *, cut: bool) -> list[bytes]:
    def chunk(delta: object, finish: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [
        _sse(chunk({"role": "assistant", "content": TEXT})),
        _sse(chunk({"content": " [DONE] message_stop"})),
    ]
    if cut:
        return events
    usage = {"prompt_tokens": 7, "completion_tokens": 11, "total_tokens": 18}
    last = {**chunk({}), "choices": [], "usage": usage}
    return [*events, _sse(chunk({}, "stop")), _sse(last), b"data: [DONE]\n\n"]


def anthropic_stream(model: str, *, cut: bool) -> list[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 7, "output_tokens": 1},
        },
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": TEXT},
    }
    events = [
        _sse(start, "message_start"),
        _sse(block, "content_block_start"),
        _sse(delta, "content_block_delta"),
    ]
    if cut:
        return events
    return [
        *events,
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 11},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    ]


def gemini_chunks(model: str, *, cut: bool) -> list[dict[str, object]]:
    def chunk(part: object, **extra: object) -> dict[str, object]:
        candidate = {"content": {"role": "model", "parts": [part]}, "index": 0, **extra}
        return {"candidates": [candidate], "modelVersion": model, "responseId": "r1"}

    call = {"functionCall": {"name": "say", "args": {"finishReason": "STOP", "note": "[DONE]"}}}
    chunks = [chunk({"text": TEXT}), chunk(call)]
    if cut:
        return chunks
    usage = {"promptTokenCount": 7, "candidatesTokenCount": 11, "totalTokenCount": 18}
    return [*chunks, {**chunk({"text": ""}, finishReason="STOP"), "usageMetadata": usage}]


def gemini_stream(model: str, *, cut: bool) -> list[bytes]:
    return [_sse(chunk, crlf=True) for chunk in gemini_chunks(model, cut=cut)]


def ollama_lines(model: str, *, cut: bool) -> list[bytes]:
    """Ollama's NDJSON lines; the text also spells its own end (``"done":true``)."""

    def line(content: str, **extra: object) -> bytes:
        message = {"role": "assistant", "content": content}
        document = {"model": model, "created_at": "2026-01-02T03:04:05.5Z", "message": message}
        return orjson.dumps({**document, "done": False, **extra}) + b"\n"

    lines = [line(TEXT), line(' [DONE] message_stop "done":true')]
    if cut:
        return lines
    return [*lines, line("", done=True, done_reason="stop", prompt_eval_count=7, eval_count=11)]


def responses_stream(model: str, *, cut: bool) -> list[bytes]:
    """OpenAI Responses events (named), usage only in ``response.completed``."""
    base = {"id": "resp_1", "object": "response", "created_at": 1, "model": model}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    events = [
        ("response.created", {"response": {**base, "status": "in_progress", "usage": None}}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.output_text.delta", {**where, "delta": TEXT}),
        ("response.output_text.delta", {**where, "delta": " [DONE] message_stop"}),
    ]
    if not cut:
        usage = {"input_tokens": 7, "output_tokens": 11, "total_tokens": 18}
        done = {**base, "status": "completed", "output": [], "usage": usage}
        events.append(("response.completed", {"response": done}))
    return [
        _sse({"type": name, "sequence_number": n, **data}, name)
        for n, (name, data) in enumerate(events)
    ]


STREAMS = {
    "openai": openai_stream,
    "anthropic": anthropic_stream,
    "gemini": gemini_stream,
    "responses": responses_stream,
}


# ---- whole streams whose upstream reports no usage (some OpenAI-compatible upstreams ignore
# ``stream_options``; some Anthropic-compatible ones count nothing) --------------------------

WORDS = "The quick brown fox jumps over the lazy dog, " * 3


def openai_without_usage(model: str) -> list[bytes]:
    def chunk(delta: object, finish: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-nousage",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    return [
        _sse(chunk({"role": "assistant", "content": WORDS[:20]})),
        _sse(chunk({"content": WORDS[20:]})),
        _sse(chunk({}, "stop")),
        b"data: [DONE]\n\n",
    ]


def anthropic_without_usage(model: str) -> list[bytes]:
    message = {
        "id": "msg_nousage",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},  # counted nothing, as some do
    }
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    text = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": WORDS},
    }
    # No usage in message_delta.
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}}
    return [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(block, "content_block_start"),
        _sse(text, "content_block_delta"),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(delta, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]


def gemini_without_usage(model: str) -> list[bytes]:
    def chunk(text: str, **extra: object) -> dict[str, object]:
        candidate = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0, **extra}
        return {"candidates": [candidate], "modelVersion": model, "responseId": "r-nousage"}

    return [
        _sse(chunk(WORDS[:20]), crlf=True),
        _sse(chunk(WORDS[20:], finishReason="STOP"), crlf=True),
    ]


def responses_without_usage(model: str) -> list[bytes]:
    base = {"id": "resp_nousage", "object": "response", "created_at": 1, "model": model}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": WORDS, "annotations": []}
    done_item = {**item, "status": "completed", "content": [part]}
    events = [
        ("response.created", {"response": {**base, "status": "in_progress", "usage": None}}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        ("response.content_part.added", {**where, "part": {**part, "text": ""}}),
        ("response.output_text.delta", {**where, "delta": WORDS[:20]}),
        ("response.output_text.delta", {**where, "delta": WORDS[20:]}),
        ("response.output_text.done", {**where, "text": WORDS}),
        ("response.content_part.done", {**where, "part": part}),
        ("response.output_item.done", {"output_index": 0, "item": done_item}),
        (
            "response.completed",
            {"response": {**base, "status": "completed", "output": [done_item], "usage": None}},
        ),
    ]
    return [
        _sse({"type": name, "sequence_number": n, **data}, name)
        for n, (name, data) in enumerate(events)
    ]


NO_USAGE_STREAMS = {
    "openai": openai_without_usage,
    "anthropic": anthropic_without_usage,
    "gemini": gemini_without_usage,
    "responses": responses_without_usage,
}
