"""OpenAI Chat Completions streams: ``chat.completion.chunk`` objects <-> IR stream events,
and the small wire facts the non-stream codec (``openai_codec``) shares with them."""

from __future__ import annotations

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
from airelay.formats.openai_chat import DONE
from airelay.formats.openai_reasoning import decode_details, signature_detail
from airelay.formats.usage import Usage, from_openai

Json = dict[str, Any]

# The error ``type`` for each status, for every OpenAI-shaped error the gateway answers.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_funds",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_implemented",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}

_FINISH_IN: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Seen from OpenAI-compatible upstreams.
    "eos": "stop",
    "max_tokens": "length",
    "insufficient_system_resource": "error",  # DeepSeek: generation cut short
    "error": "error",
}


def error_body(status: int, message: str, type_: str | None = None) -> Json:
    """``{"error": {"message", "type", "code"}}`` with ``code`` the HTTP status, as the
    gateway's own OpenAI errors (``airelay.errors.openai_error_body``)."""
    return {
        "error": {
            "message": message,
            "type": type_ or ERROR_TYPES.get(status, "server_error"),
            "code": status,
        }
    }


def decode_finish(value: object) -> FinishReason | None:
    if not isinstance(value, str) or not value:
        return None
    return _FINISH_IN.get(value, "stop")


def encode_finish(reason: FinishReason | None) -> str:
    """OpenAI has no "error" reason; the SDKs accept only its own values."""
    return "stop" if reason is None or reason == "error" else reason


def completion_id(value: str) -> str:
    return value if value.startswith("chatcmpl-") else "chatcmpl-" + value


def decode_usage(usage: object) -> Usage | None:
    """``from_openai``: cache reads in ``prompt_tokens_details.cached_tokens`` (or DeepSeek's
    hit count), writes in ``prompt_tokens_details.cache_write_tokens`` (as this codec writes
    them, and as OpenRouter-style relays report them)."""
    return from_openai(usage)


def encode_usage(usage: Usage) -> Json:
    prompt_details: Json = {"cached_tokens": usage.cached_tokens}
    if usage.cache_write_tokens:
        # Not OpenAI's own (it bills no writes), but what relays of Anthropic models report.
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


class OpenAIStreamDecoder:
    """``chat.completion.chunk`` objects (the parsed ``data:`` of each event) -> IR events.

    Tool calls are numbered per choice in the order they first appear; a call starts when
    its ``id`` or ``name`` first shows for its ``index`` (upstreams that omit ``index``
    start a new call on each new ``id``)."""

    #: The data of events that are no JSON (they decode to nothing): skipped unparsed.
    unparsed: tuple[bytes, ...] = (DONE,)

    def __init__(self) -> None:
        self._started = False
        # (choice, upstream tool index) -> the call's number within its choice
        self._calls: dict[tuple[int, object], int] = {}
        self._count: dict[int, int] = {}
        self._last: dict[int, tuple[int, object]] = {}

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            return []  # "[DONE]" and keep-alives
        error = data.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            kind = error.get("type") if isinstance(error, dict) else None
            text = message if isinstance(message, str) else orjson.dumps(error).decode()
            return [StreamError(text, kind if isinstance(kind, str) else "upstream_error")]
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(
                StreamStart(
                    _str(data.get("id")), _str(data.get("model")), _int(data.get("created"))
                )
            )
        choices = data.get("choices")
        if isinstance(choices, list):
            for position, choice in enumerate(choices):
                if isinstance(choice, dict):
                    index = choice.get("index")
                    if not isinstance(index, int) or isinstance(index, bool):
                        index = position
                    delta = choice.get("delta")
                    if (
                        isinstance(delta, dict)
                        and len(delta) == 1
                        and isinstance(content := delta.get("content"), str)
                        and choice.get("finish_reason") is None
                    ):
                        # The usual chunk: some text, nothing else to look for.
                        if content:
                            events.append(TextDelta(content, index))
                    else:
                        self._choice(index, choice, events)
        usage = data.get("usage")
        if usage is not None:  # most chunks carry none: no decoding to find that out
            decoded = decode_usage(usage)
            if decoded is not None:
                events.append(UsageReport(decoded))
        return events

    def _choice(self, index: int, choice: Json, events: list[StreamEvent]) -> None:
        """Appends the events of one choice of a chunk to ``events``."""
        delta = choice.get("delta")
        if isinstance(delta, dict) and delta:
            content = delta.get("content")
            if len(delta) == 1 and content is not None:
                # The usual chunk, {"content": "..."}: none of the other members to look for.
                if isinstance(content, str) and content:
                    events.append(TextDelta(content, index))
            else:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(reasoning, str) and reasoning:
                    events.append(ReasoningDelta(reasoning, None, index))
                # The text of reasoning_details repeats "reasoning"; their signatures do not.
                for part in decode_details(delta.get("reasoning_details"), "delta") or ():
                    if part.signature:
                        events.append(ReasoningDelta("", part.signature, index))
                if isinstance(content, str) and content:
                    events.append(TextDelta(content, index))
                refusal = delta.get("refusal")
                if isinstance(refusal, str) and refusal:
                    events.append(TextDelta(refusal, index))
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    for position, call in enumerate(calls):
                        if isinstance(call, dict):
                            events += self._tool_call(index, position, call)
        reason = choice.get("finish_reason")
        if reason is not None:
            finish = decode_finish(reason)
            if finish is not None:
                events.append(Finish(finish, index))

    def _tool_call(self, choice: int, position: int, call: Json) -> list[StreamEvent]:
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id, name = _str(call.get("id")), _str(function.get("name"))
        raw_index = call.get("index")
        key: tuple[int, object]
        if isinstance(raw_index, int) and not isinstance(raw_index, bool):
            key = (choice, raw_index)
        elif call_id:  # upstreams that omit the index: each new id is a new call
            key = (choice, call_id)
        else:  # a fragment without index or id continues the latest call
            key = self._last.get(choice, (choice, position))
        self._last[choice] = key
        events: list[StreamEvent] = []
        number = self._calls.get(key)
        if number is None:
            number = self._count.get(choice, 0)
            self._count[choice] = number + 1
            self._calls[key] = number
            events.append(ToolCallStart(number, call_id or f"call_{choice}_{number}", name, choice))
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some upstreams send the object itself
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            events.append(ToolCallDelta(number, arguments, choice))
        return events

    def text_frame(self, name: str | None, data: Any) -> bool:
        """Tool calls are what a chunk may change in the decoder (once it has started,
        as it has after a chunk with text)."""
        choices = data.get("choices")
        if not self._started or not isinstance(choices, list):
            return False
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and "tool_calls" in delta:
                return False
        return True

    def close(self) -> list[StreamEvent]:
        # OpenAI states every finish; a stream that ended without one was cut short, and
        # inventing a Finish would hide that.
        return []


# What follows the delta in a chunk that does not finish its choice.
_TAIL = b',"logprobs":null,"finish_reason":null}]}\n\n'
_TAIL_USAGE = b',"logprobs":null,"finish_reason":null}],"usage":null}\n\n'


class OpenAIStreamEncoder:
    """IR events -> ``data: <chunk>\\n\\n`` events in OpenAI's exact shape; ``close()`` adds the
    usage chunk (when the client asked for it) and ``data: [DONE]``."""

    def __init__(self, request: ChatRequest) -> None:
        self._include_usage = request.include_usage
        self._id = "chatcmpl-relay"
        self._model = request.model
        self._created = 0
        self._started = False
        self._opened: set[int] = set()
        self._usage: Usage | None = None
        self._failed = False
        self._signed_parts: dict[int, int] = {}  # choice -> reasoning parts signed so far
        # choice -> its chunks' bytes up to the delta (they change only with StreamStart)
        self._heads: dict[int, bytes] = {}
        self._text_heads: dict[int, bytes] = {}  # ... and up to a text delta's text
        # A chunk's bytes after the delta, when it does not finish its choice.
        self._tail = _TAIL_USAGE if self._include_usage else _TAIL
        self._text_tail = b"}" + self._tail  # a text delta's bytes after its text

    def encode_text(self, text: str, choice: int = 0) -> bytes:
        """``encode(TextDelta(text, choice))``, without making the event in the usual case
        (text for an open block or choice): what a stream's text frames are written with."""
        if text and choice in self._opened:
            head = self._text_heads.get(choice) or self._text_head(choice)
            return head + orjson.dumps(text) + self._text_tail
        return self.encode(TextDelta(text, choice))

    def encode_plain(self, texts: list[bytes], text: str, choice: int = 0) -> bytes | None:
        """``encode_text`` of each of ``texts`` (plain JSON string content; ``text``: them
        joined) in one go; None when that is not the usual case."""
        if choice not in self._opened:
            return None
        head = (self._text_heads.get(choice) or self._text_head(choice)) + b'"'
        tail = b'"' + self._text_tail
        return head + (tail + head).join(texts) + tail

    def encode(self, event: StreamEvent) -> bytes:
        if type(event) is TextDelta and event.choice in self._opened:
            # The bulk of a stream: more text for a choice already opened.
            if not event.text:
                return b""
            head = self._text_heads.get(event.choice) or self._text_head(event.choice)
            return head + orjson.dumps(event.text) + self._text_tail
        if isinstance(event, StreamStart):
            self._id, self._created = completion_id(event.id), event.created
            self._model = event.model or self._model
            self._usage = event.usage or self._usage
            self._started = True
            self._heads.clear()
            self._text_heads.clear()
            return self._open(0)
        if isinstance(event, UsageReport):
            self._usage = event.usage  # sent once, last, as OpenAI does
            return b""
        if isinstance(event, StreamError):
            self._failed = True
            body = error_body(502, event.message, event.type)
            return b"data: " + orjson.dumps(body) + b"\n\n"
        if isinstance(event, TextDelta):
            delta: Json | None = {"content": event.text} if event.text else None
            return self._delta(event.choice, delta)
        if isinstance(event, ReasoningDelta):
            delta = {"reasoning_content": event.text} if event.text else None
            if event.signature:
                index = self._signed_parts.get(event.choice, 0)
                self._signed_parts[event.choice] = index + 1
                details = signature_detail(event.signature, index)
                delta = {**(delta or {}), "reasoning_details": details}
            return self._delta(event.choice, delta)
        if isinstance(event, ToolCallStart):
            function = {"name": event.name, "arguments": ""}
            start = {"index": event.call, "id": event.id, "type": "function", "function": function}
            return self._delta(event.choice, {"tool_calls": [start]})
        if isinstance(event, ToolCallDelta):
            if not event.arguments:
                return b""
            piece = {"index": event.call, "function": {"arguments": event.arguments}}
            return self._delta(event.choice, {"tool_calls": [piece]})
        # Finish
        return self._open(event.choice) + self._chunk(event.choice, {}, encode_finish(event.reason))

    def close(self) -> bytes:
        out = b""
        if self._include_usage and self._usage is not None and not self._failed:
            chunk = self._head()
            chunk["choices"] = []
            chunk["usage"] = encode_usage(self._usage)
            out = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return out + b"data: [DONE]\n\n"

    def _head(self) -> Json:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    def _chunk(self, choice: int, delta: Json, finish: str | None = None) -> bytes:
        """``data: {head, "choices": [{index, delta, logprobs, finish_reason}], "usage"?}``,
        from the choice's pre-encoded head: only the delta is encoded per chunk."""
        head = self._heads.get(choice) or self._chunk_head(choice)
        if finish is None:
            tail = self._tail
        else:
            tail = b',"logprobs":null,"finish_reason":' + orjson.dumps(finish) + b"}]"
            tail += b',"usage":null}\n\n' if self._include_usage else b"}\n\n"
        return head + orjson.dumps(delta) + tail

    def _chunk_head(self, choice: int) -> bytes:
        head = orjson.dumps(self._head())[:-1]  # without its closing brace
        encoded = self._heads[choice] = b'data: %b,"choices":[{"index":%d,"delta":' % (
            head,
            choice,
        )
        return encoded

    def _text_head(self, choice: int) -> bytes:
        head = self._heads.get(choice) or self._chunk_head(choice)
        encoded = self._text_heads[choice] = head + b'{"content":'
        return encoded

    def _open(self, choice: int) -> bytes:
        """The first chunk of a choice: its role and an empty content, as OpenAI sends."""
        if choice in self._opened:
            return b""
        self._opened.add(choice)
        return self._chunk(choice, {"role": "assistant", "content": ""})

    def _delta(self, choice: int, delta: Json | None) -> bytes:
        if delta is None:
            return b""
        return self._open(choice) + self._chunk(choice, delta)
