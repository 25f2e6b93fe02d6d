"""Anthropic Messages streams: named SSE events <-> IR stream events; and the wire
vocabulary (stop reasons, usage, ids, error types) that ``anthropic_codec`` shares.

An Anthropic stream is ``message_start``, ``ping``, then content blocks (each
``content_block_start``, deltas, ``content_block_stop``, indexed 0, 1, ... in order),
``message_delta`` (stop reason, cumulative usage) and ``message_stop``; ``error`` may
come at any point.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final, Literal

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
from airelay.formats.json_text import compact_json as compact_json
from airelay.formats.usage import Usage, from_anthropic

Json = dict[str, Any]
BlockKind = Literal["text", "thinking", "tool_use"]

_STOP_IN: Final[dict[str, FinishReason]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_OUT: Final[dict[FinishReason, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "error": "end_turn",  # Anthropic has no such reason; the error itself travels apart
}

# Anthropic's error types (docs.claude.com/en/api/errors, and the SDK's ErrorType).
ERROR_TYPES: Final = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
        "conflict_error",
    }
)
# The SDK picks its exception class by HTTP status; the type names the cause.
_STATUS_ERROR_TYPES: Final[dict[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Other formats' names for the same causes (OpenAI-style types in StreamError, say).
_ERROR_ALIASES: Final[dict[str, str]] = {
    "insufficient_funds": "billing_error",
    "insufficient_quota": "billing_error",
    "rate_limit_exceeded": "rate_limit_error",
    "server_error": "api_error",
    "upstream_error": "api_error",
    "service_unavailable": "overloaded_error",
    "not_implemented": "api_error",
}


_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


# ---- wire vocabulary (shared with anthropic_codec) ----------------------------------------


def decode_stop_reason(value: object) -> FinishReason | None:
    if not isinstance(value, str) or not value:
        return None
    return _STOP_IN.get(value, "stop")


def encode_stop_reason(reason: FinishReason | None) -> str:
    return _STOP_OUT[reason] if reason is not None else "end_turn"


def encode_usage(usage: Usage) -> Json:
    """Anthropic's ``input_tokens`` leaves out the cache reads and writes; writes are also
    split by TTL in ``cache_creation``, as Anthropic reports them (when there are any)."""
    out: Json = {
        "input_tokens": max(
            0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens
        ),
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    }
    if usage.cache_write_tokens:
        hour = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
        out["cache_creation"] = {
            "ephemeral_5m_input_tokens": usage.cache_write_tokens - hour,
            "ephemeral_1h_input_tokens": hour,
        }
    return out


def tool_id(call_id: str) -> str:
    """A call id Anthropic accepts (``^[a-zA-Z0-9_-]+$``). Deterministic, so a tool_use
    and the tool_result answering it still match."""
    return _UNSAFE_ID.sub("_", call_id) or "toolu_"


def message_id(response_id: str) -> str:
    return response_id if response_id.startswith("msg_") else "msg_" + response_id


def error_type(status: int, type_: str | None = None) -> str:
    if type_ in ERROR_TYPES:
        return type_
    if type_ in _ERROR_ALIASES:
        return _ERROR_ALIASES[type_]
    if status in _STATUS_ERROR_TYPES:
        return _STATUS_ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


# ---- streams ----------------------------------------------------------------------------


def sse(kind: str, payload: Json) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class AnthropicStreamDecoder:
    """Upstream Anthropic events -> IR events."""

    __slots__ = (
        "_args",
        "_blocks",
        "_calls",
        "_failed",
        "_finished",
        "_input",
        "_started",
        "_stopped",
    )

    def __init__(self) -> None:
        self._blocks: dict[int, str] = {}  # block index -> its type
        self._calls: dict[int, int] = {}  # tool_use block index -> call number
        self._args: set[int] = set()  # tool_use blocks that got argument text
        self._input: Json = {}  # message_start usage, completed by message_delta's
        self._started = self._stopped = self._finished = self._failed = False

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if not isinstance(kind, str):
            kind = name
        if kind == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                # The bulk of a stream, read here without the general path's lookups.
                text = delta.get("text")
                return [TextDelta(text)] if isinstance(text, str) and text else []
            return self._block_delta(data)
        if kind == "message_start":
            return self._message_start(data)
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_stop":
            return self._block_stop(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "message_stop":
            self._stopped = True
        elif kind == "error":
            self._failed = True
            error = data.get("error")
            error = error if isinstance(error, dict) else {}
            message, type_ = error.get("message"), error.get("type")
            return [
                StreamError(
                    message if isinstance(message, str) else "upstream error",
                    type_ if isinstance(type_, str) else "api_error",
                )
            ]
        return []  # ping, and event types added after this was written

    def text_frame(self, name: str | None, data: Any) -> bool:
        """A ``content_block_delta``'s text changes nothing in the decoder; a
        ``content_block_start`` (which may hold text too) records its block."""
        kind = data.get("type")
        return (kind if isinstance(kind, str) else name) == "content_block_delta"

    def close(self) -> list[StreamEvent]:
        if self._failed or self._finished:
            return []
        if self._stopped:
            return [Finish("stop")]
        if self._started:
            return [StreamError("the upstream stream ended before message_stop", "api_error")]
        return []

    def _message_start(self, data: Json) -> list[StreamEvent]:
        message = data.get("message")
        message = message if isinstance(message, dict) else {}
        usage = message.get("usage")
        self._input = dict(usage) if isinstance(usage, dict) else {}
        self._started = True
        return [
            StreamStart(
                id=_string(message.get("id")),
                model=_string(message.get("model")),
                created=0,
                usage=from_anthropic(usage),
            )
        ]

    def _block_start(self, data: Json) -> list[StreamEvent]:
        block = data.get("content_block")
        block = block if isinstance(block, dict) else {}
        index = _index(data, len(self._blocks))
        kind = _string(block.get("type"))
        self._blocks[index] = kind
        if kind == "text":
            text = _string(block.get("text"))
            return [TextDelta(text)] if text else []
        if kind == "thinking":
            signature = block.get("signature")
            return [
                ReasoningDelta(
                    _string(block.get("thinking")),
                    signature if isinstance(signature, str) and signature else None,
                )
            ]
        if kind == "redacted_thinking":
            blob = block.get("data")
            return [ReasoningDelta(redacted=blob)] if isinstance(blob, str) and blob else []
        if kind == "tool_use":
            call = self._calls[index] = len(self._calls)
            events: list[StreamEvent] = [
                ToolCallStart(call, _string(block.get("id")), _string(block.get("name")))
            ]
            # Anthropic streams the input as deltas from {}; some compatible upstreams
            # put all of it here instead.
            arguments = block.get("input")
            if isinstance(arguments, dict) and arguments:
                self._args.add(index)
                events.append(ToolCallDelta(call, compact_json(arguments)))
            return events
        return []

    def _block_delta(self, data: Json) -> list[StreamEvent]:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return []
        index = _index(data, len(self._blocks) - 1)
        kind = delta.get("type")
        if kind == "text_delta":
            text = _string(delta.get("text"))
            return [TextDelta(text)] if text else []
        if kind == "thinking_delta":
            text = _string(delta.get("thinking"))
            return [ReasoningDelta(text)] if text else []
        if kind == "signature_delta":
            signature = _string(delta.get("signature"))
            return [ReasoningDelta("", signature)] if signature else []
        if kind == "input_json_delta" and index in self._calls:
            fragment = _string(delta.get("partial_json"))
            if not fragment:
                return []
            self._args.add(index)
            return [ToolCallDelta(self._calls[index], fragment)]
        return []  # citations and anything newer

    def _block_stop(self, data: Json) -> list[StreamEvent]:
        index = _index(data, len(self._blocks) - 1)
        if index in self._calls and index not in self._args:
            # A call without arguments streams none; its input is still the object {}.
            self._args.add(index)
            return [ToolCallDelta(self._calls[index], "{}")]
        return []

    def _message_delta(self, data: Json) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        delta = data.get("delta")
        reason = decode_stop_reason(delta.get("stop_reason")) if isinstance(delta, dict) else None
        if reason is not None and not self._finished:
            self._finished = True
            events.append(Finish(reason))
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Counts here are cumulative; the ones left out keep their message_start value.
            self._input.update({k: v for k, v in usage.items() if v is not None})
            events.append(UsageReport(from_anthropic(self._input) or Usage()))
        return events


class AnthropicStreamEncoder:
    """IR events -> Anthropic SSE bytes (choice 0 only: Anthropic has one)."""

    __slots__ = (
        "_call",
        "_closed",
        "_delta_head",
        "_failed",
        "_has_signature",
        "_index",
        "_model",
        "_open",
        "_reason",
        "_start_usage",
        "_started",
        "_text_head",
        "_usage",
    )

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._started = self._closed = self._failed = False
        self._index = -1  # index of the last block started
        self._delta_head = b""  # a content_block_delta event of that block, up to its delta
        self._text_head = b""  # ... and up to a text_delta's text
        self._open: BlockKind | None = None
        self._call = -1  # call number of the open tool_use block
        self._has_signature = False  # the open thinking block has had its signature
        self._reason: FinishReason | None = None
        self._start_usage: Usage | None = None
        self._usage: Usage | None = None

    def encode_text(self, text: str, choice: int = 0) -> bytes:
        """``encode(TextDelta(text, choice))``, without making the event in the usual case
        (text for an open block or choice): what a stream's text frames are written with."""
        if text and self._open == "text" and choice == 0 and not (self._closed or self._failed):
            return self._text_head + orjson.dumps(text) + b"}}\n\n"
        return self.encode(TextDelta(text, choice))

    def encode_plain(self, texts: list[bytes], text: str, choice: int = 0) -> bytes | None:
        """``encode_text`` of each of ``texts`` (plain JSON string content; ``text``: them
        joined) in one go; None when that is not the usual case."""
        if self._open != "text" or choice != 0 or self._closed or self._failed:
            return None
        head = self._text_head + b'"'
        tail = b'"}}\n\n'
        return head + (tail + head).join(texts) + tail

    def encode(self, event: StreamEvent) -> bytes:
        if self._closed or self._failed:
            return b""
        if type(event) is TextDelta and self._open == "text" and event.choice == 0:
            # The bulk of a stream: more text for the open text block (so started).
            if not event.text:
                return b""
            return self._text_head + orjson.dumps(event.text) + b"}}\n\n"
        if isinstance(event, StreamStart):
            return b"" if self._started else self._start(event.id, event.model, event.usage)
        out = b"" if self._started else self._start("", self._model, None)
        if isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, StreamError):
            self._failed = True
            error = {"type": error_type(500, event.type), "message": event.message}
            out += sse("error", {"type": "error", "error": error})
        elif event.choice != 0:
            pass
        elif isinstance(event, TextDelta):
            if event.text:
                out += self._ensure_block("text", {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": event.text})
        elif isinstance(event, ReasoningDelta):
            out += self._reasoning(event)
        elif isinstance(event, ToolCallStart):
            block = {"type": "tool_use", "id": tool_id(event.id), "name": event.name, "input": {}}
            out += self._open_block("tool_use", block)
            self._call = event.call
        elif isinstance(event, ToolCallDelta):
            # Blocks are sequential: a fragment of a call whose block has closed (only an
            # upstream interleaving its calls sends one) has nowhere to go.
            if event.arguments and self._open == "tool_use" and self._call == event.call:
                out += self._delta({"type": "input_json_delta", "partial_json": event.arguments})
        elif isinstance(event, Finish):
            out += self._close_block()
            self._reason = event.reason
        return out

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        if self._failed:
            return b""
        out = b"" if self._started else self._start("", self._model, None)
        out += self._close_block()
        if self._usage is not None:
            usage: Json = encode_usage(self._usage)
        else:
            start = self._start_usage
            usage = {"output_tokens": start.completion_tokens if start else 0}
        delta = {"stop_reason": encode_stop_reason(self._reason), "stop_sequence": None}
        out += sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + sse("message_stop", {"type": "message_stop"})

    def _start(self, id_: str, model: str, usage: Usage | None) -> bytes:
        self._started = True
        self._start_usage = usage
        message: Json = {
            "id": message_id(id_ or uuid.uuid4().hex),
            "type": "message",
            "role": "assistant",
            "model": model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": encode_usage(usage) if usage else {"input_tokens": 0, "output_tokens": 0},
        }
        return sse("message_start", {"type": "message_start", "message": message}) + sse(
            "ping", {"type": "ping"}
        )

    def _reasoning(self, event: ReasoningDelta) -> bytes:
        out = b""
        if event.text:
            # After its signature a thinking block is complete: more text is a new block.
            if self._open != "thinking" or self._has_signature:
                out += self._open_block("thinking", _THINKING_START)
            out += self._delta({"type": "thinking_delta", "thinking": event.text})
        if event.signature:
            # A block has one signature: another one (a signed call after signed thought,
            # a sealed redacted block) opens a block of its own.
            if self._open != "thinking" or self._has_signature:
                out += self._open_block("thinking", _THINKING_START)
            out += self._delta({"type": "signature_delta", "signature": event.signature})
            self._has_signature = True
        return out

    def _ensure_block(self, kind: BlockKind, block: Json) -> bytes:
        return b"" if self._open == kind else self._open_block(kind, block)

    def _open_block(self, kind: BlockKind, block: Json) -> bytes:
        out = self._close_block()
        self._index += 1
        self._delta_head = (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":'
            % self._index
        )
        self._text_head = self._delta_head + _TEXT_DELTA
        self._open = kind
        self._has_signature = False
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return out + sse("content_block_start", start)

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return sse("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _delta(self, delta: Json) -> bytes:
        # sse("content_block_delta", {"type": ..., "index": ..., "delta": delta}), with the
        # part before the delta encoded once per block.
        return self._delta_head + orjson.dumps(delta) + b"}\n\n"


# A text_delta's JSON up to its text.
_TEXT_DELTA: Final = b'{"type":"text_delta","text":'
# The SDK's ThinkingBlock requires a signature; it comes as a signature_delta at the end.
_THINKING_START: Json = {"type": "thinking", "thinking": "", "signature": ""}


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


def _index(data: Json, default: int) -> int:
    index = data.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else default
