"""Gemini streams (``streamGenerateContent``) <-> IR stream events; and the wire
vocabulary (parts, finish reasons, usage, call ids, errors) that ``gemini_codec`` shares.

Each chunk is a whole ``GenerateContentResponse`` carrying the parts generated since the
last one; the last carries ``finishReason`` and the final ``usageMetadata``. With
``alt=sse`` each chunk is one ``data: <json>`` event ended by ``\\r\\n\\r\\n`` (as Google
sends them; the google-genai SDK splits lines on CR, LF or CRLF); without it, the chunks
are the elements of one streamed JSON array, separated by ``,\\r\\n``. A function call
always arrives whole, so the encoder holds a call back until its arguments are complete.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote_to_bytes, urlsplit

import orjson

from airelay.formats.framing import JsonArrayWriter
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    Finish,
    FinishReason,
    Image,
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
    ToolResult,
    UsageReport,
)
from airelay.formats.json_text import compact_json, parse_arguments, parse_json
from airelay.formats.usage import Usage, from_gemini

__all__ = [
    "PLACEHOLDER_SIGNATURE",
    "GeminiStreamDecoder",
    "GeminiStreamEncoder",
    "JsonArrayEncoder",
    "append_part",
    "compact_json",
    "decode_finish",
    "decode_part",
    "encode_finish",
    "encode_parts",
    "encode_usage",
    "error_body",
    "error_status",
    "field",
    "parse_arguments",
    "response_call_id",
]

Json = dict[str, Any]
# Google's documented stand-in signature for a function call the model did not make.
PLACEHOLDER_SIGNATURE: Final = "skip_thought_signature_validator"
_FILTERED: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
_FINISH_OUT: Final[dict[FinishReason, str]] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "error": "OTHER",
}
_STATUSES: Final[dict[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    # No balance left: the caller must top up first, so not RESOURCE_EXHAUSTED, which
    # clients treat as "back off and retry" (it is what 429 answers).
    402: "FAILED_PRECONDITION",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_AUDIO_FORMATS: Final = {"mpeg": "mp3", "x-wav": "wav", "wave": "wav", "x-flac": "flac"}
_EXTENSIONS: Final = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}
_SNAKE: Final = re.compile(r"(?<!^)(?=[A-Z])")
_UNSAFE_ID: Final = re.compile(r"[^a-zA-Z0-9_-]")


# ---- wire vocabulary: parts, reasons, usage, errors (shared with gemini_codec) ------------


def field(obj: Json, camel: str) -> Any:
    """``obj[camel]``, or the snake_case spelling the SDK also sends."""
    value = obj.get(camel)
    return obj.get(_SNAKE.sub("_", camel).lower()) if value is None else value


def response_call_id(response_id: str, number: int) -> str:
    """The id a response's ``number``-th call of a candidate gets when Gemini gives none."""
    safe = _UNSAFE_ID.sub("", response_id)
    return f"call_{safe}_{number}" if safe else f"call_{number}"


def decode_finish(value: object, has_calls: bool) -> FinishReason | None:
    if not isinstance(value, str) or not value:
        return None
    if value == "MAX_TOKENS":
        return "length"
    if value in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls and value == "STOP" else "stop"


def encode_finish(reason: FinishReason) -> str:
    return _FINISH_OUT[reason]


def encode_usage(usage: Usage) -> Json:
    """``candidatesTokenCount`` leaves out the thoughts, which come apart."""
    out: Json = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": max(0, usage.completion_tokens - usage.reasoning_tokens),
        "totalTokenCount": usage.prompt_tokens + usage.completion_tokens,
    }
    if usage.cached_tokens:
        out["cachedContentTokenCount"] = usage.cached_tokens
    if usage.reasoning_tokens:
        out["thoughtsTokenCount"] = usage.reasoning_tokens
    return out


def decode_part(part: Json, call_id: Callable[[object], str]) -> list[Part]:
    """The IR parts of one content part other than ``functionResponse`` (a signature on a
    part that is not a thought comes first, as ``Reasoning("", sig)``). ``call_id`` gets a
    call's own ``id`` (or None) and gives the id to use."""
    signature = field(part, "thoughtSignature")
    signature = signature if isinstance(signature, str) and signature else None
    if signature == PLACEHOLDER_SIGNATURE:
        signature = None
    text = part.get("text")
    if part.get("thought") is True:
        return [Reasoning(text if isinstance(text, str) else "", signature)]
    out: list[Part] = [Reasoning("", signature)] if signature else []
    call = field(part, "functionCall")
    blob = field(part, "inlineData")
    file = field(part, "fileData")
    if isinstance(text, str):
        if text:
            out.append(Text(text))
    elif isinstance(call, dict):
        name = call.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("'functionCall.name' must be a non-empty string")
        args = call.get("args")
        arguments = compact_json(args if isinstance(args, dict) else {})
        out.append(ToolCall(call_id(call.get("id")), name, arguments))
    elif isinstance(blob, dict):
        mime = _string(field(blob, "mimeType")) or "application/octet-stream"
        data = _string(blob.get("data"))
        if mime.startswith("audio/"):
            subtype = mime[6:].split(";")[0]
            out.append(Audio(data, _AUDIO_FORMATS.get(subtype, subtype)))
        else:
            out.append(Image(data=data, media_type=mime))
    elif isinstance(file, dict):
        uri = _string(field(file, "fileUri"))
        out.append(Image(url=uri, media_type=_string(field(file, "mimeType")) or None))
    return out


def append_part(parts: list[Part], part: Part, *, merge_text: bool) -> None:
    """Append as the ``Assembler`` does: reasoning joins reasoning right before it (and
    with ``merge_text``, text joins text)."""
    last = parts[-1] if parts else None
    if isinstance(part, Reasoning) and isinstance(last, Reasoning):
        last.text += part.text
        last.signature = part.signature or last.signature
    elif merge_text and isinstance(part, Text) and isinstance(last, Text):
        last.text += part.text
    else:
        parts.append(part)


def encode_parts(
    parts: list[Part],
    *,
    history: bool,
    call_ids: Callable[[ToolCall], str | None],
    names: dict[str, str] | None = None,
    result_ids: frozenset[str] = frozenset(),
) -> list[Json]:
    """Gemini parts. ``history``: a request's turn, where unsigned reasoning is left out
    (Gemini reads nothing from it). ``call_ids`` gives the id to write for a call, if any."""
    out: list[Json] = []
    pending: str | None = None
    for part in parts:
        if isinstance(part, Reasoning):
            if history and not part.signature:
                continue
            if part.text:
                out.append({"text": part.text, "thought": True})
            if part.signature:
                if pending is not None:
                    out.append({"text": "", "thoughtSignature": pending})
                pending = part.signature
            continue
        encoded = _encode_part(part, call_ids, names or {}, result_ids)
        if encoded is None:
            continue
        if pending is not None:
            encoded["thoughtSignature"], pending = pending, None
        out.append(encoded)
    if pending is not None:
        if out and out[-1].get("thought") and "thoughtSignature" not in out[-1]:
            out[-1]["thoughtSignature"] = pending
        else:
            out.append({"text": "", "thoughtSignature": pending})
    return out


def _encode_part(
    part: Part,
    call_ids: Callable[[ToolCall], str | None],
    names: dict[str, str],
    result_ids: frozenset[str],
) -> Json | None:
    if isinstance(part, Text):
        return {"text": part.text} if part.text else None
    if isinstance(part, Image):
        return _encode_image(part)
    if isinstance(part, Audio):
        return {"inlineData": {"mimeType": "audio/" + part.format, "data": part.data}}
    if isinstance(part, ToolCall):
        call: Json = {"name": part.name, "args": parse_arguments(part.arguments)}
        call_id = call_ids(part)
        if call_id is not None:
            call["id"] = call_id
        return {"functionCall": call}
    if isinstance(part, ToolResult):
        return {"functionResponse": _encode_result(part, names, result_ids)}
    return None


def _encode_result(result: ToolResult, names: dict[str, str], result_ids: frozenset[str]) -> Json:
    text = "".join(p.text for p in result.content if isinstance(p, Text))
    parsed = parse_json(text)
    if not isinstance(parsed, dict):
        parsed = {"error" if result.is_error else "result": text}
    out: Json = {"name": result.name or names.get(result.call_id) or result.call_id}
    if result.call_id in result_ids:
        out["id"] = result.call_id
    out["response"] = parsed
    media = [b for p in result.content if isinstance(p, Image) and (b := _encode_image(p))]
    if media:
        out["parts"] = media
    return out


def _encode_image(image: Image) -> Json | None:
    if image.data:
        return {"inlineData": {"mimeType": image.media_type or "image/jpeg", "data": image.data}}
    url = image.url or ""
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        mime = header[5:].split(";")[0] or image.media_type or "image/jpeg"
        if ";base64" not in header:
            payload = base64.b64encode(unquote_to_bytes(payload)).decode()
        return {"inlineData": {"mimeType": mime, "data": payload}}
    if not url:
        return None
    path = urlsplit(url).path.lower()
    guessed = next((t for ext, t in _EXTENSIONS.items() if path.endswith(ext)), "image/jpeg")
    return {"fileData": {"mimeType": image.media_type or guessed, "fileUri": url}}


# Google's status names as the gateway's error types (``airelay.errors``), which the
# other formats' encoders know, and back to an HTTP code for a stream's error chunk.
_ERROR_TYPES: Final = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "INTERNAL": "server_error",
    "UNAVAILABLE": "service_unavailable",
    "DEADLINE_EXCEEDED": "timeout_error",
}
_TYPE_STATUSES: Final = {
    "invalid_request_error": 400,
    "rate_limit_error": 429,
    "server_error": 500,
    "service_unavailable": 503,
    "overloaded_error": 503,
    "timeout_error": 504,
}


def error_status(status: int) -> str:
    if status in _STATUSES:
        return _STATUSES[status]
    return "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"


def error_body(status: int, message: str, type_: str | None = None) -> Json:
    """Google's error shape; the SDK raises ``ClientError``/``ServerError`` by ``code``."""
    error: Json = {"code": status, "message": message, "status": error_status(status)}
    if type_:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": type_.upper(),
                "domain": "airelay",
            }
        ]
    return {"error": error}


def _stream_error(error: object) -> StreamError:
    message = error.get("message") if isinstance(error, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    text = message if isinstance(message, str) else orjson.dumps(error).decode()
    return StreamError(text, _ERROR_TYPES.get(_string(status), "upstream_error"))


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


# ---- streams ----------------------------------------------------------------------------


class GeminiStreamDecoder:
    """Parsed chunks (or a whole parsed JSON array of them) -> IR events.

    Calls are numbered per candidate; one without an ``id`` gets the id ``decode_response``
    would give it. Usage is reported once: when every candidate has finished and a chunk
    carries ``usageMetadata`` (Google puts the final numbers on the last chunk), else on
    ``close``."""

    def __init__(self) -> None:
        self._started = False
        self._response_id = ""
        self._calls: dict[int, int] = {}
        self._seen: set[int] = set()
        self._finished: set[int] = set()
        self._usage: Usage | None = None
        self._usage_sent = False

    def feed(self, name: str | None, data: Any) -> list[StreamEvent]:
        if isinstance(data, list):
            return [event for item in data for event in self.feed(name, item)]
        if not isinstance(data, dict):
            return []
        if data.get("error") is not None:
            return [_stream_error(data["error"])]
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            response_id = field(data, "responseId")
            model = field(data, "modelVersion")
            self._response_id = response_id if isinstance(response_id, str) else ""
            events.append(
                StreamStart(self._response_id, model if isinstance(model, str) else "", 0)
            )
        candidates = data.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            if isinstance(candidate, dict):
                events += self._candidate(candidate, position)
        feedback = field(data, "promptFeedback")
        if not candidates and isinstance(feedback, dict) and field(feedback, "blockReason"):
            self._seen.add(0)
            if 0 not in self._finished:
                self._finished.add(0)
                events.append(Finish("content_filter", 0))
        usage = from_gemini(field(data, "usageMetadata"))
        if usage is not None:
            self._usage = usage
            if not self._usage_sent and self._seen and self._seen <= self._finished:
                self._usage_sent = True
                events.append(UsageReport(usage))
        return events

    def _candidate(self, candidate: Json, position: int) -> list[StreamEvent]:
        index = candidate.get("index")
        choice = index if isinstance(index, int) and not isinstance(index, bool) else position
        self._seen.add(choice)

        def call_id(given: object) -> str:
            number = self._calls.get(choice, 0)
            self._calls[choice] = number + 1
            if isinstance(given, str) and given:
                return given
            return response_call_id(self._response_id, number)

        events: list[StreamEvent] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            for decoded in decode_part(part, call_id):
                if isinstance(decoded, Reasoning):
                    if decoded.text or decoded.signature:
                        events.append(ReasoningDelta(decoded.text, decoded.signature, choice))
                elif isinstance(decoded, Text):
                    events.append(TextDelta(decoded.text, choice))
                elif isinstance(decoded, ToolCall):
                    number = self._calls[choice] - 1
                    events.append(ToolCallStart(number, decoded.id, decoded.name, choice))
                    events.append(ToolCallDelta(number, decoded.arguments, choice))
                # inline images and audio have no stream event: they are left out
        reason = decode_finish(field(candidate, "finishReason"), self._calls.get(choice, 0) > 0)
        if reason is not None and choice not in self._finished:
            self._finished.add(choice)
            events.append(Finish(reason, choice))
        return events

    def close(self) -> list[StreamEvent]:
        # A candidate that never finished was cut short: no Finish is invented for it.
        if self._usage is not None and not self._usage_sent:
            self._usage_sent = True
            return [UsageReport(self._usage)]
        return []


class GeminiStreamEncoder:
    """IR events -> ``data: <chunk>\\r\\n\\r\\n`` events. Text and reasoning go out as they
    come; a call waits for its arguments (until the next call, other output of its
    candidate, its Finish or ``close``); the finish reasons and usage go on a last chunk
    at ``close``, since usage may follow Finish. Every chunk names the model and response."""

    def __init__(self, request: ChatRequest) -> None:
        self._model = request.model
        self._id = ""
        self._calls: dict[int, list[Any]] = {}  # choice -> [number, id, name, arguments]
        self._signatures: dict[int, str] = {}  # choice -> signature for its next part
        self._finish: dict[int, FinishReason] = {}
        self._usage: Usage | None = None
        self._closed = False

    def encode(self, event: StreamEvent) -> bytes:
        return self._frame(self._chunks(event))

    def close(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        chunks: list[Json] = []
        for choice in sorted(set(self._calls) | set(self._signatures)):
            chunks += self._flush(choice)
        candidates = [
            {"finishReason": encode_finish(reason), "index": choice}
            for choice, reason in sorted(self._finish.items())
        ]
        if candidates or self._usage is not None:
            last: Json = {"candidates": candidates} if candidates else {}
            if self._usage is not None:
                last["usageMetadata"] = encode_usage(self._usage)
            chunks.append(self._stamp(last))
        return self._frame(chunks)

    def _chunks(self, event: StreamEvent) -> list[Json]:
        if isinstance(event, StreamStart):
            self._id = event.id
            self._model = event.model or self._model
            if event.usage is not None:
                self._usage = event.usage
            return []
        if isinstance(event, TextDelta):
            if not event.text:
                return []
            return [*self._flush_call(event.choice), self._part(event.choice, {"text": event.text})]
        if isinstance(event, ReasoningDelta):
            return self._reasoning(event)
        if isinstance(event, ToolCallStart):
            chunks = self._flush_call(event.choice)
            self._calls[event.choice] = [event.call, event.id, event.name, ""]
            return chunks
        if isinstance(event, ToolCallDelta):
            pending = self._calls.get(event.choice)
            if pending is not None and pending[0] == event.call:
                pending[3] += event.arguments
            return []
        if isinstance(event, Finish):
            self._finish[event.choice] = event.reason
            return self._flush(event.choice)
        if isinstance(event, UsageReport):
            self._usage = event.usage
            return []
        return [error_body(_TYPE_STATUSES.get(event.type, 502), event.message, event.type)]

    def _reasoning(self, event: ReasoningDelta) -> list[Json]:
        choice = event.choice
        chunks = self._flush_call(choice)
        if event.text:
            part: Json = {"text": event.text, "thought": True}
            if event.signature:
                chunks += self._flush_signature(choice)
                part["thoughtSignature"] = event.signature
            chunks.append(self._part(choice, part))
        elif event.signature:  # a signature for the part that comes next
            chunks += self._flush_signature(choice)
            self._signatures[choice] = event.signature
        return chunks

    def _flush(self, choice: int) -> list[Json]:
        return self._flush_call(choice) + self._flush_signature(choice)

    def _flush_call(self, choice: int) -> list[Json]:
        pending = self._calls.pop(choice, None)
        if pending is None:
            return []
        number, call_id, name, arguments = pending
        call: Json = {"name": name, "args": parse_arguments(arguments)}
        if call_id != response_call_id(self._id, number):
            call["id"] = call_id
        return [self._part(choice, {"functionCall": call})]

    def _flush_signature(self, choice: int) -> list[Json]:
        if choice not in self._signatures:
            return []
        return [self._part(choice, {"text": ""})]

    def _part(self, choice: int, part: Json) -> Json:
        signature = self._signatures.pop(choice, None)
        if signature is not None:
            part["thoughtSignature"] = signature
        content = {"parts": [part], "role": "model"}
        return self._stamp({"candidates": [{"content": content, "index": choice}]})

    def _stamp(self, chunk: Json) -> Json:
        chunk["modelVersion"] = self._model
        chunk["responseId"] = self._id
        return chunk

    def _frame(self, chunks: list[Json]) -> bytes:
        return b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)


class JsonArrayEncoder(GeminiStreamEncoder):
    """The same chunks as the elements of a streamed JSON array (``:streamGenerateContent``
    without ``alt=sse``), written by ``framing.JsonArrayWriter``."""

    def __init__(self, request: ChatRequest) -> None:
        super().__init__(request)
        self._writer = JsonArrayWriter()

    def close(self) -> bytes:
        if self._closed:
            return b""
        return super().close() + self._writer.close()

    def _frame(self, chunks: list[Json]) -> bytes:
        return b"".join(self._writer.element(orjson.dumps(chunk)) for chunk in chunks)
