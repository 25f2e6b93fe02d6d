"""Ollama's native chat streams (``POST /api/chat`` with ``"stream": true``) <-> IR stream
events; and the wire vocabulary (answer messages, finish reasons, usage, call ids, errors)
that ``ollama_codec`` shares.

A stream is newline-delimited JSON (``application/x-ndjson``): every line is a whole chat
answer object carrying what was generated since the last one (``message.content``,
``message.thinking``, whole ``message.tool_calls``) with ``"done": false``; the last line
has ``"done": true``, the ``done_reason`` and the counts (``prompt_eval_count``,
``eval_count``). A failure after the head is a line ``{"error": "..."}``.

Ollama's answers carry no id: one is made from ``created_at`` (``ollama-<digits>``), and a
call without an ``id`` gets ``call_<digits>_<n>``, so that ids stay unique across turns.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from airelay.formats.ir import (
    ChatRequest,
    Finish,
    FinishReason,
    Part,
    Reasoning,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    Text,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
)
from airelay.formats.json_text import compact_json, parse_arguments
from airelay.formats.usage import Usage

__all__ = [
    "OllamaStreamDecoder",
    "OllamaStreamEncoder",
    "answer_id",
    "created_at",
    "decode_calls",
    "decode_finish",
    "decode_message",
    "decode_usage",
    "encode_call",
    "encode_finish",
    "encode_usage",
    "error_body",
    "parse_created",
]

Json = dict[str, Any]
_FINISH_OUT: Final[dict[FinishReason, str]] = {
    "stop": "stop",
    "tool_calls": "stop",
    "length": "length",
    "content_filter": "stop",
    "error": "stop",
}
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def decode_usage(document: Json) -> Usage | None:
    """The counts of a final answer (``done: true``); None when it has neither."""
    if "prompt_eval_count" not in document and "eval_count" not in document:
        return None
    return Usage(
        prompt_tokens=_count(document.get("prompt_eval_count")),
        completion_tokens=_count(document.get("eval_count")),
    )


def encode_usage(usage: Usage) -> Json:
    return {"prompt_eval_count": usage.prompt_tokens, "eval_count": usage.completion_tokens}


def decode_finish(reason: object, has_calls: bool) -> FinishReason:
    """``done_reason``: ``stop`` (``tool_calls`` when the answer calls tools), ``length``;
    ``load``/``unload`` and anything else end the answer as a stop."""
    if reason == "length":
        return "length"
    return "tool_calls" if has_calls else "stop"


def encode_finish(reason: FinishReason | None) -> str:
    return _FINISH_OUT[reason] if reason is not None else "stop"


def parse_created(value: object) -> int:
    """``created_at`` (RFC 3339, nanoseconds) as Unix seconds; 0 when unreadable."""
    if not isinstance(value, str) or not value:
        return 0
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return 0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp())


def created_at(created: int) -> str:
    """Unix seconds as Ollama writes ``created_at``."""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def answer_id(document: Json) -> str:
    """An id for an answer that has none: the digits of its ``created_at``."""
    digits = "".join(c for c in _string(document.get("created_at")) if c.isdigit())
    return f"ollama-{digits}" if digits else ""


def call_id(response_id: str, number: int) -> str:
    """The id of a call that came without one: ``call_<digits>_<n>`` in an answer,
    ``call_<n>`` in a request's history (``response_id`` empty)."""
    digits = response_id.removeprefix("ollama-")
    return f"call_{digits}_{number}" if digits else f"call_{number}"


def decode_calls(calls: object, response_id: str, first: int) -> list[ToolCall]:
    """``message.tool_calls`` (arguments as an object) as IR calls numbered from ``first``."""
    out: list[ToolCall] = []
    for item in calls if isinstance(calls, list) else ():
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        name = _string(function.get("name"))
        arguments = function.get("arguments")
        if isinstance(arguments, str):  # some builds send the JSON text
            arguments = parse_arguments(arguments)
        given = item.get("id")
        identifier = given if isinstance(given, str) and given else None
        out.append(
            ToolCall(
                identifier or call_id(response_id, first + len(out)),
                name,
                compact_json(arguments if isinstance(arguments, dict) else {}),
            )
        )
    return out


def decode_message(message: object, response_id: str) -> list[Part]:
    """An answer's ``message`` as IR parts, in the order decoders yield them: reasoning,
    text, calls."""
    if not isinstance(message, dict):
        return []
    parts: list[Part] = []
    thinking = _string(message.get("thinking"))
    if thinking:
        parts.append(Reasoning(thinking))
    content = _string(message.get("content"))
    if content:
        parts.append(Text(content))
    parts += decode_calls(message.get("tool_calls"), response_id, 0)
    return parts


def encode_call(call: ToolCall) -> Json:
    """A call as Ollama takes it back in history and sends it: arguments as an object."""
    return {"function": {"name": call.name, "arguments": parse_arguments(call.arguments)}}


def error_body(status: int, message: str, type_: str | None = None) -> Json:
    """Ollama's error shape: ``{"error": "<message>"}``."""
    return {"error": message}


def _error_text(error: object) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return compact_json(error)


# ---- decoding a stream ----------------------------------------------------------------------


class OllamaStreamDecoder:
    """Parsed NDJSON lines -> IR events. Calls arrive whole (name and arguments in one
    line), so each is a ``ToolCallStart`` and one ``ToolCallDelta``."""

    def __init__(self) -> None:
        self._started = False
        self._id = ""
        self._calls = 0

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            return []
        if "error" in data:
            return [StreamError(_error_text(data["error"]))]
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            self._id = answer_id(data)
            events.append(
                StreamStart(
                    self._id, _string(data.get("model")), parse_created(data.get("created_at"))
                )
            )
        message = data.get("message")
        if isinstance(message, dict):
            thinking = message.get("thinking")
            if isinstance(thinking, str) and thinking:
                events.append(ReasoningDelta(thinking))
            content = message.get("content")
            if isinstance(content, str) and content:
                events.append(TextDelta(content))
            for call in decode_calls(message.get("tool_calls"), self._id, self._calls):
                events.append(ToolCallStart(self._calls, call.id, call.name))
                events.append(ToolCallDelta(self._calls, call.arguments))
                self._calls += 1
        if data.get("done") is True:
            events.append(Finish(decode_finish(data.get("done_reason"), self._calls > 0)))
            usage = decode_usage(data)
            if usage is not None:
                events.append(UsageReport(usage))
        return events

    def close(self) -> list[StreamEvent]:
        return []  # a stream without its ``done`` line never completed


# ---- encoding a stream ----------------------------------------------------------------------


class OllamaStreamEncoder:
    """IR events -> NDJSON lines as Ollama writes them. Text and reasoning go out at once;
    a call goes out whole when the next event that is not one of its fragments comes; the
    ``done`` line waits for the usage that may follow the ``Finish``."""

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._created = 0
        self._call: list[str] | None = None  # [id, name, arguments] of the call being built
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._closed = False

    def _line(self, message: Json, **extra: Any) -> bytes:
        document: Json = {
            "model": self._model,
            "created_at": created_at(self._created),
            "message": {"role": "assistant", "content": "", **message},
            "done": False,
            **extra,
        }
        return orjson.dumps(document) + b"\n"

    def _flush_call(self) -> bytes:
        if self._call is None:
            return b""
        call, self._call = ToolCall(*self._call), None
        return self._line({"tool_calls": [encode_call(call)]})

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, ToolCallDelta) and self._call is not None:
            self._call[2] += event.arguments
            return b""
        out = self._flush_call()
        if isinstance(event, StreamStart):
            self._created = event.created
            if event.model:
                self._model = event.model
        elif isinstance(event, TextDelta):
            out += self._line({"content": event.text}) if event.text else b""
        elif isinstance(event, ReasoningDelta):
            out += self._line({"thinking": event.text}) if event.text else b""
        elif isinstance(event, ToolCallStart):
            self._call = [event.id, event.name, ""]
        elif isinstance(event, Finish):
            self._finish = event.reason
        elif isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, StreamError):
            self._closed = True
            out += orjson.dumps(error_body(502, event.message)) + b"\n"
        return out

    def close(self) -> bytes:
        out = self._flush_call()
        if self._closed:
            return out
        self._closed = True
        extra: Json = {"done": True, "done_reason": encode_finish(self._finish)}
        if self._usage is not None:
            extra.update(encode_usage(self._usage))
        return out + self._line({}, **extra)
