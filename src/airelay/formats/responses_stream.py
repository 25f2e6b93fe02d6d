"""OpenAI Responses streams: semantic events (``response.created`` ...
``response.completed``) <-> IR stream events (the shapes both codecs share are in
``responses_shapes``).

The encoder writes the sequence OpenAI sends, each event with its ``sequence_number``:
``response.created``, ``response.in_progress``, then per output item
``response.output_item.added``, its content (a message: ``content_part.added``,
``output_text.delta``..., ``output_text.done``, ``content_part.done``; a reasoning item:
``reasoning_summary_part.added``, ``reasoning_summary_text.delta``...,
``reasoning_summary_text.done``, ``reasoning_summary_part.done``; a function call:
``function_call_arguments.delta``..., ``function_call_arguments.done``; a custom tool call:
``custom_tool_call_input.delta``/``done``), ``response.output_item.done``; and last
``response.completed``, ``response.incomplete`` (output cap, content filter) or
``response.failed``, carrying the whole response and its usage.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from airelay.formats.ir import (
    ChatRequest,
    Finish,
    FinishReason,
    ReasoningDelta,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageReport,
)
from airelay.formats.responses_shapes import (
    TERMINAL_EVENTS,
    custom_input,
    custom_names,
    decode_usage,
    echo,
    encode_usage,
    finish_of,
    frame,
    opaque,
    response_id,
    status_of,
    unwrap,
)
from airelay.formats.usage import Usage

Json = dict[str, Any]

# ---- decoding -----------------------------------------------------------------------------


class ResponsesStreamDecoder:
    """Responses events (the parsed ``data:``; its ``type`` names it) -> IR events.

    Tool calls are numbered in the order their items are added. A custom tool call's text
    streams as the JSON string of the IR's ``{"input": ...}`` arguments."""

    def __init__(self) -> None:
        self._started = False
        self._calls: dict[object, int] = {}  # output_index and item id -> call number
        self._count = 0  # calls so far
        self._custom: set[int] = set()  # the calls that are custom tool calls
        self._streamed: set[int] = set()  # the calls whose arguments came as deltas
        self._summaries: set[tuple[object, object]] = set()
        self._finished = False

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if not isinstance(kind, str):
            return []
        if kind == "response.output_text.delta" or kind == "response.refusal.delta":
            delta = data.get("delta")
            return [TextDelta(delta)] if isinstance(delta, str) and delta else []
        if kind == "response.function_call_arguments.delta":
            return self._arguments(data, data.get("delta"))
        if kind == "response.custom_tool_call_input.delta":
            delta = data.get("delta")
            if not isinstance(delta, str) or not delta:
                return []
            return self._arguments(data, orjson.dumps(delta)[1:-1].decode())
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = data.get("delta")
            return [ReasoningDelta(delta)] if isinstance(delta, str) and delta else []
        if kind == "response.reasoning_summary_part.added":
            key = (data.get("item_id"), data.get("output_index"))
            if key in self._summaries:
                return [ReasoningDelta("\n\n")]  # the next summary part of the same item
            self._summaries.add(key)
            return []
        if kind == "response.output_item.added":
            return self._added(data)
        if kind == "response.output_item.done":
            return self._done(data)
        if kind == "response.created":
            return self._start(data.get("response"))
        if kind in TERMINAL_EVENTS:
            return self._end(kind, data.get("response"))
        if kind == "error" or name == "error":
            message = data.get("message")
            error = data.get("error")
            if not isinstance(message, str) and isinstance(error, dict):
                message = error.get("message")
            text = message if isinstance(message, str) else orjson.dumps(data).decode()
            return [StreamError(text)]
        return []

    def _start(self, response: object) -> list[StreamEvent]:
        if self._started or not isinstance(response, dict):
            return []
        self._started = True
        created = response.get("created_at")
        return [
            StreamStart(
                str(response.get("id") or ""),
                str(response.get("model") or ""),
                int(created) if isinstance(created, int | float) else 0,
            )
        ]

    def _key(self, data: Json) -> object:
        index = data.get("output_index")
        return index if isinstance(index, int) else data.get("item_id")

    def _added(self, data: Json) -> list[StreamEvent]:
        item = data.get("item")
        if not isinstance(item, dict) or item.get("type") not in (
            "function_call",
            "custom_tool_call",
        ):
            return []
        events = self._start({}) if not self._started else []
        number = self._count
        self._count += 1
        self._calls[self._key(data)] = number
        if item.get("id") is not None:
            self._calls[item.get("id")] = number
        call_id = item.get("call_id") or item.get("id") or f"call_{number}"
        events.append(ToolCallStart(number, str(call_id), str(item.get("name") or "")))
        if item.get("type") == "custom_tool_call":
            self._custom.add(number)
            events.append(ToolCallDelta(number, '{"input":"'))
        return events

    def _arguments(self, data: Json, delta: object) -> list[StreamEvent]:
        number = self._calls.get(self._key(data))
        if number is None:
            number = self._calls.get(data.get("item_id"))
        if number is None or not isinstance(delta, str) or not delta:
            return []
        self._streamed.add(number)
        return [ToolCallDelta(number, delta)]

    def _done(self, data: Json) -> list[StreamEvent]:
        item = data.get("item")
        if not isinstance(item, dict):
            return []
        kind = item.get("type")
        if kind == "reasoning":
            content = item.get("encrypted_content")
            if isinstance(content, str) and content:
                signature, encrypted = unwrap(content)
                return [ReasoningDelta("", signature, encrypted=encrypted)]
            return []
        number = self._calls.get(self._key(data))
        if number is None:
            return []
        events: list[StreamEvent] = []
        if number in self._custom:
            text = item.get("input")
            if number not in self._streamed and isinstance(text, str) and text:
                events.append(ToolCallDelta(number, orjson.dumps(text)[1:-1].decode()))
            events.append(ToolCallDelta(number, '"}'))
        elif number not in self._streamed:
            arguments = item.get("arguments")
            if isinstance(arguments, str) and arguments:
                events.append(ToolCallDelta(number, arguments))
        self._streamed.add(number)
        return events

    def _end(self, kind: str, response: object) -> list[StreamEvent]:
        response = response if isinstance(response, dict) else {}
        events: list[StreamEvent] = [] if self._started else self._start(response)
        usage = decode_usage(response.get("usage"))
        if usage is not None:
            events.append(UsageReport(usage))
        if kind == "response.failed":
            error = response.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            events.append(StreamError(message if isinstance(message, str) else "response failed"))
            return events
        status = "incomplete" if kind == "response.incomplete" else "completed"
        reason = finish_of(status, response.get("incomplete_details"), self._count > 0)
        if reason is not None and not self._finished:
            self._finished = True
            events.append(Finish(reason))
        return events

    def text_frame(self, name: str | None, data: Any) -> bool:
        """Text deltas are read from their own event alone."""
        return True

    def close(self) -> list[StreamEvent]:
        return []  # a stream without its terminal event was cut short


# ---- encoding -----------------------------------------------------------------------------


def _event(kind: str, sequence: int, payload: bytes) -> bytes:
    """``payload``: the event's members after ``type`` and ``sequence_number``, as JSON
    members (``,"a":1,...``)."""
    return b'event: %b\ndata: {"type":"%b","sequence_number":%d%b}\n\n' % (
        kind.encode(),
        kind.encode(),
        sequence,
        payload,
    )


def _members(values: Json) -> bytes:
    return b"," + orjson.dumps(values)[1:-1] if values else b""


class ResponsesStreamEncoder:
    """IR events -> Responses SSE events in OpenAI's order (choice 0 only: a response has
    one). The terminal event (with the whole response and its usage) is written by
    ``close``, once the usage is known."""

    def __init__(self, request: ChatRequest) -> None:
        self._echo = echo(request)  # the request's settings, as each response object says
        self._custom = custom_names(request)
        self._id = ""  # set by StreamStart (or made up if the stream starts without one)
        self._model = request.model
        self._created = 0
        self._sequence = 0
        self._started = False
        self._output: list[Json] = []  # items done
        self._open: Json | None = None  # the item being streamed
        self._parts: list[str] = []  # its text so far
        self._text_head = b""  # a text delta's bytes up to the delta, for the open message
        self._usage: Usage | None = None
        self._reason: FinishReason | None = None
        self._failed: str | None = None
        self._closed = False
        self._body: Json = {}  # the response object as the stream started it (``_start``)

    # -- helpers

    def _emit(self, kind: str, values: Json) -> bytes:
        out = _event(kind, self._sequence, _members(values))
        self._sequence += 1
        return out

    def _frame(self, status: str) -> Json:
        """The response object at its end: the one it started with, with the status, the
        output, the usage and what ended it."""
        incomplete = None
        error = None
        if status == "incomplete":
            incomplete = status_of(self._reason)[1]
        elif status == "failed":
            error = {"code": "server_error", "message": self._failed or "response failed"}
        return {
            **self._body,
            "status": status,
            "error": error,
            "incomplete_details": incomplete,
            "output": self._output,
            "usage": None if self._usage is None else encode_usage(self._usage),
        }

    def _start(self, event: StreamStart | None) -> bytes:
        self._started = True
        if event is not None:
            self._id = response_id(event.id)
            self._model = event.model or self._model
            self._created = event.created
        else:
            self._id = response_id(uuid.uuid4().hex)
        body = frame(None, self._id, self._model, self._created, "in_progress", [], None)
        body.update(self._echo)
        self._body = body
        # One response object, encoded once for both events, written by one format.
        response = orjson.dumps(body)
        sequence = self._sequence
        self._sequence = sequence + 2
        return _STARTED % (sequence, response, sequence + 1, response)

    def _index(self) -> int:
        return len(self._output)

    def _add(self, item: Json) -> bytes:
        self._open = item
        self._parts = []
        return self._emit(
            "response.output_item.added", {"output_index": self._index(), "item": item}
        )

    def _close_item(self) -> bytes:
        item = self._open
        if item is None:
            return b""
        self._open = None
        self._text_head = b""
        index = self._index()
        text = "".join(self._parts)
        kind = item["type"]
        if kind == "message":
            sequence = self._sequence
            self._sequence = sequence + 3
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
            self._output.append({**item, "status": "completed", "content": [part]})
            ids, texts = orjson.dumps(item["id"]), orjson.dumps(text)
            return _MESSAGE_DONE % (
                *(sequence, ids, index, texts),
                *(sequence + 1, ids, index, texts),
                *(sequence + 2, index, ids, texts),
            )
        out = b""
        where: Json = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            part = {"type": "summary_text", "text": text}
            out += self._emit(
                "response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}
            )
            out += self._emit(
                "response.reasoning_summary_part.done", {**where, "summary_index": 0, "part": part}
            )
            item = {**item, "summary": [part]}
        elif kind == "function_call":
            out += self._emit(
                "response.function_call_arguments.done",
                {**where, "name": item["name"], "arguments": text},
            )
            item = {**item, "status": "completed", "arguments": text}
        else:  # custom_tool_call: its text comes whole, once the call is complete
            value = custom_input(text)
            if value:
                out += self._emit(
                    "response.custom_tool_call_input.delta", {**where, "delta": value}
                )
            out += self._emit("response.custom_tool_call_input.done", {**where, "input": value})
            item = {**item, "status": "completed", "input": value}
        out += self._emit("response.output_item.done", {"output_index": index, "item": item})
        self._output.append(item)
        return out

    # -- events

    def encode_text(self, text: str, choice: int = 0) -> bytes:
        """``encode(TextDelta(text, choice))``, without making the event in the usual case
        (text for an open message): what a stream's text frames are written with."""
        # An open message's head is dropped when the stream closes or fails.
        if text and self._text_head and choice == 0:
            self._parts.append(text)
            sequence = self._sequence
            self._sequence = sequence + 1
            return _TEXT_EVENT % sequence + self._text_head + orjson.dumps(text) + _TEXT_TAIL
        return self.encode(TextDelta(text, choice))

    def encode_plain(self, texts: list[bytes], text: str, choice: int = 0) -> bytes | None:
        """``encode_text`` of each of ``texts`` (plain JSON string content; ``text``: them
        joined) in one go; None when that is not the usual case."""
        if not self._text_head or choice != 0:
            return None
        self._parts.append(text)
        first = self._sequence
        self._sequence = first + len(texts)
        event = _TEXT_EVENT + self._text_head.replace(b"%", b"%%") + b'"%b"' + _TEXT_TAIL
        # One format for the whole run (its events' sequence numbers and texts in turn):
        # one call rather than one per event.
        count = len(texts)
        values: list[int | bytes] = [0] * (2 * count)
        values[0::2] = range(first, first + count)
        values[1::2] = texts
        return event * count % tuple(values)

    def encode(self, event: StreamEvent) -> bytes:
        if self._closed or self._failed is not None:
            return b""
        if type(event) is TextDelta and self._text_head and event.choice == 0:
            # The bulk of a stream: more text for the open message.
            if not event.text:
                return b""
            self._parts.append(event.text)
            sequence = self._sequence
            self._sequence = sequence + 1
            return _TEXT_EVENT % sequence + self._text_head + orjson.dumps(event.text) + _TEXT_TAIL
        if isinstance(event, StreamStart):
            return b"" if self._started else self._start(event)
        out = b"" if self._started else self._start(None)
        if isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, StreamError):
            out += self._close_item()
            self._failed = event.message
            out += self._emit("response.failed", {"response": self._frame("failed")})
        elif event.choice != 0:
            pass
        elif isinstance(event, TextDelta):
            if event.text:
                out += self._open_message()
                out += self.encode(event)
        elif isinstance(event, ReasoningDelta):
            out += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            out += self._close_item()
            if event.name in self._custom:
                item: Json = {
                    "id": "ctc_" + event.id,
                    "type": "custom_tool_call",
                    "status": "in_progress",
                    "call_id": event.id,
                    "name": event.name,
                    "input": "",
                }
            else:
                item = {
                    "id": "fc_" + event.id,
                    "type": "function_call",
                    "status": "in_progress",
                    "arguments": "",
                    "call_id": event.id,
                    "name": event.name,
                }
            out += self._add(item)
        elif isinstance(event, ToolCallDelta):
            item = self._open or {}
            if event.arguments and item.get("call_id") is not None:
                self._parts.append(event.arguments)
                if item["type"] == "function_call":
                    where = {"item_id": item["id"], "output_index": self._index()}
                    out += self._emit(
                        "response.function_call_arguments.delta",
                        {**where, "delta": event.arguments},
                    )
        elif isinstance(event, Finish):
            out += self._close_item()
            self._reason = event.reason
        return out

    def _open_message(self) -> bytes:
        out = self._close_item()
        index = self._index()
        item_id = "msg_" + self._id.removeprefix("resp_") + f"_{index}"
        self._open = {
            "id": item_id,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self._parts = []
        sequence = self._sequence
        self._sequence = sequence + 2
        ids = orjson.dumps(item_id)
        self._text_head = _TEXT_HEAD % (ids, index)
        return out + _MESSAGE_ADDED % (sequence, index, ids, sequence + 1, ids, index)

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        out = b""
        item = self._open
        if event.text and (item is None or item["type"] != "reasoning"):
            out += self._close_item()
            item_id = "rs_" + self._id.removeprefix("resp_") + f"_{self._index()}"
            out += self._add({"id": item_id, "type": "reasoning", "summary": []})
            where: Json = {"item_id": item_id, "output_index": self._index(), "summary_index": 0}
            part = {"type": "summary_text", "text": ""}
            out += self._emit("response.reasoning_summary_part.added", {**where, "part": part})
            item = self._open
        if item is None or item["type"] != "reasoning":
            content = opaque(event.signature, event.encrypted)
            if content and self._output and self._output[-1]["type"] == "reasoning":
                self._output[-1]["encrypted_content"] = content
            return out
        if event.text:
            self._parts.append(event.text)
            where = {"item_id": item["id"], "output_index": self._index(), "summary_index": 0}
            out += self._emit(
                "response.reasoning_summary_text.delta", {**where, "delta": event.text}
            )
        content = opaque(event.signature, event.encrypted)
        if content:
            item["encrypted_content"] = content
        return out

    def close(self) -> bytes:
        if self._closed or self._failed is not None:
            return b""
        self._closed = True
        out = b"" if self._started else self._start(None)
        out += self._close_item()
        status = status_of(self._reason)[0]
        kind = _ENDINGS.get(status, b"response.completed")
        if status == "failed":
            self._failed = "the upstream ended the response with an error"
        sequence = self._sequence
        self._sequence = sequence + 1
        return out + _ENDED % (kind, kind, sequence, orjson.dumps(self._frame(status)))


# The events of a message item (as ``_emit`` writes them: ``test_responses_stream`` checks
# it), written from one %-format each: opening it (``output_item.added``,
# ``content_part.added``) and closing it (``output_text.done``, ``content_part.done``,
# ``output_item.done``). ``%b``: the item id and the text as JSON strings.
_MESSAGE_ADDED = (
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added",'
    b'"sequence_number":%d,"output_index":%d,"item":{"id":%b,"type":"message",'
    b'"status":"in_progress","role":"assistant","content":[]}}\n\n'
    b'event: response.content_part.added\ndata: {"type":"response.content_part.added",'
    b'"sequence_number":%d,"item_id":%b,"output_index":%d,"content_index":0,'
    b'"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}\n\n'
)
_MESSAGE_DONE = (
    b'event: response.output_text.done\ndata: {"type":"response.output_text.done",'
    b'"sequence_number":%d,"item_id":%b,"output_index":%d,"content_index":0,"text":%b,'
    b'"logprobs":[]}\n\n'
    b'event: response.content_part.done\ndata: {"type":"response.content_part.done",'
    b'"sequence_number":%d,"item_id":%b,"output_index":%d,"content_index":0,'
    b'"part":{"type":"output_text","annotations":[],"logprobs":[],"text":%b}}\n\n'
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done",'
    b'"sequence_number":%d,"output_index":%d,"item":{"id":%b,"type":"message",'
    b'"status":"completed","role":"assistant","content":[{"type":"output_text",'
    b'"annotations":[],"logprobs":[],"text":%b}]}}\n\n'
)
# The stream's first two events (``response.created``, ``response.in_progress``) and its
# last (``response.completed``, ``.incomplete`` or ``.failed``), as ``_emit`` writes them,
# each carrying the response object (``%b``: it as JSON).
_STARTED = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":%d,'
    b'"response":%b}\n\n'
    b'event: response.in_progress\ndata: {"type":"response.in_progress",'
    b'"sequence_number":%d,"response":%b}\n\n'
)
_ENDED = b'event: %b\ndata: {"type":"%b","sequence_number":%d,"response":%b}\n\n'
# The closing event's name by the response's status (else ``response.completed``).
_ENDINGS: dict[str, bytes] = {"incomplete": b"response.incomplete", "failed": b"response.failed"}
# A text delta of the open message: its event's bytes up to the delta.
_TEXT_HEAD = b',"item_id":%b,"output_index":%d,"content_index":0,"delta":'
_TEXT_EVENT = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
    b'"sequence_number":%d'
)
_TEXT_TAIL = b',"logprobs":[]}\n\n'
