"""Ollama's native chat API (``POST /api/chat``) <-> the chat IR: requests, whole answers and
error bodies. Streams live in ``ollama_stream``. The gateway speaks it to upstreams only:
no client-facing route answers in it.

Choices the relay relies on:
- ``stream`` is always written: Ollama streams when the field is absent;
- sampling travels in ``options`` (``temperature``, ``top_p``, ``top_k``, ``num_predict``,
  ``stop``, ``seed``); a JSON answer is ``format`` (``"json"`` or a JSON schema); a request
  for reasoning is ``think: true``;
- images are base64 in the message's ``images`` (inline only: the relay fetches remote
  images before a call is translated into this format);
- tool calls carry their arguments as an object and, in history, no id: a ``tool`` message
  names the tool it answers (``tool_name``); decoding gives calls without an id
  ``call_<n>`` across the conversation and matches a result to the earliest unanswered call
  of its name. Ollama has no ``tool_choice``: ``none`` sends no tools, a named tool sends
  that tool only.
"""

from __future__ import annotations

import base64
import sys
from typing import Any, Final, Literal
from urllib.parse import unquote_to_bytes

from airelay.formats.codec import Codec, module_codec
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Image,
    Message,
    Part,
    Reasoning,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
)
from airelay.formats.json_text import compact_json
from airelay.formats.ollama_stream import (
    OllamaStreamDecoder,
    OllamaStreamEncoder,
    answer_id,
    created_at,
    decode_calls,
    decode_finish,
    decode_message,
    decode_usage,
    encode_call,
    encode_finish,
    encode_usage,
    error_body,
    parse_created,
)

__all__ = [
    "CODEC",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_body",
    "stream_decoder",
    "stream_encoder",
]

Json = dict[str, Any]
NAME: Final = "ollama"
Effort = Literal["low", "medium", "high"]
_EFFORTS: Final[dict[str, Effort]] = {"low": "low", "medium": "medium", "high": "high"}
_ROLES: Final = ("system", "user", "assistant", "tool")


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


# ---- requests: decode -----------------------------------------------------------------------


def decode_request(body: Any, *, model: str | None = None, stream: bool = False) -> ChatRequest:
    """An ``/api/chat`` body (``stream`` defaults to true there, as Ollama reads it)."""
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    name = model or body.get("model")
    if not isinstance(name, str) or not name:
        raise ValueError("'model' is required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' is required and must be a non-empty array")
    streamed = body.get("stream") is not False
    request = ChatRequest(model=name, messages=_decode_messages(messages), stream=streamed)
    request.include_usage = streamed  # Ollama's last line always carries the counts
    _decode_options(body.get("options"), request)
    request.response_format = _decode_format(body.get("format"))
    request.thinking = _decode_think(body.get("think"))
    request.tools = _decode_tools(body.get("tools"))
    return request


def _decode_messages(raw: list[Any]) -> list[Message]:
    out: list[Message] = []
    calls: list[list[Any]] = []  # [id, name, answered] in conversation order
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ValueError(f"'{where}' must be an object")
        role = message.get("role")
        if role not in _ROLES:
            raise ValueError(f"'{where}.role' must be one of: {', '.join(_ROLES)}")
        content = message.get("content", "")
        if not isinstance(content, str):
            raise ValueError(f"'{where}.content' must be a string")
        images = _decode_images(message.get("images"), where)
        if role == "tool":
            tool_name = _string(message.get("tool_name"))
            match = next((c for c in calls if c[1] == tool_name and not c[2]), None)
            if match is not None:
                match[2] = True
            call = match[0] if match is not None else _string(message.get("tool_call_id"))
            result = ToolResult(call or tool_name, [Text(content), *images], tool_name or None)
            out.append(Message("tool", [result]))
            continue
        parts: list[Part] = []
        if role == "assistant":
            thinking = _string(message.get("thinking"))
            if thinking:
                parts.append(Reasoning(thinking))
        if content:
            parts.append(Text(content))
        parts += images
        if role == "assistant":
            for call in decode_calls(message.get("tool_calls"), "", len(calls)):
                calls.append([call.id, call.name, False])
                parts.append(call)
        out.append(Message(role, parts))
    return out


def _decode_images(images: object, where: str) -> list[Image]:
    if images is None:
        return []
    if not isinstance(images, list) or not all(isinstance(i, str) for i in images):
        raise ValueError(f"'{where}.images' must be an array of base64 strings")
    return [Image(data=data) for data in images]


def _decode_options(options: object, request: ChatRequest) -> None:
    if options is None:
        return
    if not isinstance(options, dict):
        raise ValueError("'options' must be an object")
    request.temperature = _number(options, "temperature")
    request.top_p = _number(options, "top_p")
    top_k = _number(options, "top_k")
    request.top_k = int(top_k) if top_k is not None else None
    predict = _number(options, "num_predict")
    request.max_tokens = int(predict) if predict is not None and predict >= 0 else None
    seed = _number(options, "seed")
    request.seed = int(seed) if seed is not None else None
    stop = options.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise ValueError("'options.stop' must be an array of strings")
        request.stop = stop or None


def _number(options: Json, key: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'options.{key}' must be a number")
    return value


def _decode_format(value: object) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "json_object"}
    if isinstance(value, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    raise ValueError("'format' must be \"json\" or a JSON schema object")


def _decode_think(value: object) -> Thinking | None:
    if value is None or value is False:
        return None
    if value is True:
        return Thinking()
    if isinstance(value, str) and value in _EFFORTS:
        return Thinking(effort=_EFFORTS[value])
    raise ValueError("'think' must be a boolean or one of: low, medium, high")


def _decode_tools(tools: object) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    out: list[Tool] = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(function, dict) or not isinstance(name, str) or not name:
            raise ValueError(f"'tools[{i}].function.name' is required")
        description = function.get("description")
        parameters = function.get("parameters")
        out.append(
            Tool(
                name=name,
                description=description if isinstance(description, str) else None,
                parameters=parameters
                if isinstance(parameters, dict)
                else {"type": "object", "properties": {}},
            )
        )
    return out or None


# ---- requests: encode -----------------------------------------------------------------------


def encode_request(request: ChatRequest) -> Json:
    names = {
        part.id: part.name
        for message in request.messages
        for part in message.parts
        if isinstance(part, ToolCall)
    }
    messages: list[Json] = []
    for message in request.messages:
        if message.role == "tool":
            messages += [
                _encode_result(p, names) for p in message.parts if isinstance(p, ToolResult)
            ]
            continue
        out: Json = {"role": message.role, "content": _text(message.parts)}
        images = _images(message.parts)
        if images:
            out["images"] = images
        if message.role == "assistant":
            thinking = "".join(p.text for p in message.parts if isinstance(p, Reasoning))
            if thinking:
                out["thinking"] = thinking
            calls = [encode_call(p) for p in message.parts if isinstance(p, ToolCall)]
            if calls:
                out["tool_calls"] = calls
        messages.append(out)
    body: Json = {"model": request.model, "messages": messages, "stream": request.stream}
    tools = _encode_tools(request)
    if tools:
        body["tools"] = tools
    options = _encode_options(request)
    if options:
        body["options"] = options
    fmt = request.response_format or {}
    if fmt.get("type") == "json_object":
        body["format"] = "json"
    elif fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        body["format"] = schema if isinstance(schema, dict) else "json"
    if request.thinking is not None:
        body["think"] = True
    return body


def _text(parts: list[Part]) -> str:
    return "\n".join(p.text for p in parts if isinstance(p, Text))


def _images(parts: list[Any]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if not isinstance(part, Image):
            continue
        if part.data:
            out.append(part.data)
            continue
        url = part.url or ""
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if ";base64" not in header:
                payload = base64.b64encode(unquote_to_bytes(payload)).decode()
            out.append(payload)
        # A remote URL is fetched by the relay before a call is translated into this format.
    return out


def _encode_result(result: ToolResult, names: dict[str, str]) -> Json:
    out: Json = {
        "role": "tool",
        "content": _text(list(result.content)),
        "tool_name": result.name or names.get(result.call_id, ""),
    }
    images = _images(list(result.content))
    if images:
        out["images"] = images
    return out


def _encode_tools(request: ChatRequest) -> list[Json]:
    choice = request.tool_choice
    tools = request.tools or []
    if choice is not None and choice.mode == "none":
        return []
    if choice is not None and choice.mode == "tool" and choice.name:
        tools = [tool for tool in tools if tool.name == choice.name] or tools
    out: list[Json] = []
    for tool in tools:
        function: Json = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            function["description"] = tool.description
        out.append({"type": "function", "function": function})
    return out


def _encode_options(request: ChatRequest) -> Json:
    options: Json = {}
    for key, value in (
        ("temperature", request.temperature),
        ("top_p", request.top_p),
        ("top_k", request.top_k),
        ("num_predict", request.max_tokens),
        ("stop", request.stop or None),
        ("seed", request.seed),
    ):
        if value is not None:
            options[key] = value
    return options


# ---- answers --------------------------------------------------------------------------------


def decode_response(body: Any) -> ChatResponse:
    if not isinstance(body, dict):
        raise ValueError("response body must be a JSON object")
    if "error" in body:
        error = body["error"]
        raise ValueError(
            f"upstream error: {error if isinstance(error, str) else compact_json(error)}"
        )
    message = body.get("message")
    if not isinstance(message, dict):
        raise ValueError("the answer has no 'message'")
    response_id = answer_id(body)
    parts = decode_message(message, response_id)
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    reason = decode_finish(body.get("done_reason"), has_calls) if body.get("done") else None
    return ChatResponse(
        id=response_id,
        model=_string(body.get("model")),
        created=parse_created(body.get("created_at")),
        choices=[Choice(0, Message("assistant", parts), reason)],
        usage=decode_usage(body),
    )


def encode_response(response: ChatResponse) -> Json:
    choice = response.choices[0] if response.choices else None
    parts = choice.message.parts if choice is not None else []
    message: Json = {"role": "assistant", "content": _text(parts)}
    thinking = "".join(p.text for p in parts if isinstance(p, Reasoning))
    if thinking:
        message["thinking"] = thinking
    calls = [encode_call(p) for p in parts if isinstance(p, ToolCall)]
    if calls:
        message["tool_calls"] = calls
    body: Json = {
        "model": response.model,
        "created_at": created_at(response.created),
        "message": message,
        "done": True,
        "done_reason": encode_finish(choice.finish_reason if choice is not None else None),
    }
    if response.usage is not None:
        body.update(encode_usage(response.usage))
    return body


# ---- the codec object -----------------------------------------------------------------------


def stream_decoder() -> OllamaStreamDecoder:
    return OllamaStreamDecoder()


def stream_encoder(request: ChatRequest) -> OllamaStreamEncoder:
    return OllamaStreamEncoder(request)


CODEC: Codec = module_codec(NAME, sys.modules[__name__])
