"""The OpenAI Chat Completions codec: request and response bodies <-> the canonical IR.

Also the codec of every OpenAI-compatible upstream (DeepSeek's ``reasoning_content``,
OpenRouter-style ``reasoning``). Streams live in ``openai_stream``.

Choices the other codecs and the relay rely on:
- data URLs decode to ``Image(data=..., media_type=...)``; ``https:`` URLs stay URLs;
- a ``tool`` message's ``ToolResult.name`` is filled from the assistant call it answers;
- reasoning in the history is not sent back (OpenAI rejects it; DeepSeek wants it dropped);
- ``encode_request`` writes ``max_tokens`` (every compatible upstream reads it) and never
  ``top_k`` (OpenAI rejects unknown parameters); a stream always asks for usage.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal

import orjson

from airelay.formats.codec import Codec, module_codec
from airelay.formats.fields import number as _number
from airelay.formats.fields import optional as _opt
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    ChatResponse,
    Choice,
    Image,
    Message,
    Part,
    Reasoning,
    Role,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from airelay.formats.openai_reasoning import encode_details, reasoning_parts
from airelay.formats.openai_stream import (
    OpenAIStreamDecoder,
    OpenAIStreamEncoder,
    completion_id,
    decode_finish,
    decode_usage,
    encode_finish,
    encode_usage,
    error_body,
)
from airelay.formats.thinking import effort_for

__all__ = [
    "CODEC",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_body",
    "name",
    "stream_decoder",
    "stream_encoder",
]

name = "openai"

Json = dict[str, Any]
Effort = Literal["low", "medium", "high"]

_DATA_URL = re.compile(r"data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*;base64,(?P<data>.*)", re.S)
_EFFORTS: dict[str, Effort | None] = {
    "none": None,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}


# ---- requests -------------------------------------------------------------------------


def decode_request(body: Any, *, model: str | None = None, stream: bool = False) -> ChatRequest:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    model = body.get("model", model)
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise ValueError("'messages' is required and must be a non-empty array")
    messages = [_decode_message(i, m) for i, m in enumerate(raw_messages)]
    _name_results(messages)
    is_stream = _opt(body, "stream", bool)
    options = _opt(body, "stream_options", dict) or {}
    tools = _decode_tools(body.get("tools"))
    request = ChatRequest(
        model=model,
        messages=messages,
        max_tokens=_positive(body, "max_completion_tokens") or _positive(body, "max_tokens"),
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        top_k=_positive(body, "top_k"),
        stop=_decode_stop(body.get("stop")),
        n=_positive(body, "n"),
        seed=_opt(body, "seed", int),
        tools=tools,
        tool_choice=_decode_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        thinking=_decode_effort(body.get("reasoning_effort")),
        response_format=_decode_response_format(body.get("response_format")),
        user=_opt(body, "user", str),
        stream=stream if is_stream is None else is_stream,
    )
    request.include_usage = request.stream and options.get("include_usage") is True
    return request


def _positive(body: Json, key: str) -> int | None:
    value = _opt(body, key, int)
    if value is not None and value < 1:
        raise ValueError(f"'{key}' must be a positive integer")
    return value  # type: ignore[no-any-return]


def _decode_message(index: int, message: object) -> Message:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise ValueError(f"'{where}' must be an object")
    role = message.get("role")
    content = message.get("content")
    if role in _ROLES:
        parts = _decode_content(where, content, assistant=role == "assistant")
        if role == "assistant":
            parts[:0] = reasoning_parts(message, where)
            parts += _decode_tool_calls(where, message.get("tool_calls"))
        elif role != "user" and any(not isinstance(p, Text) for p in parts):
            raise ValueError(f"'{where}.content' of a {role} message may hold only text")
        return Message(_ROLES[role], parts)
    if role in ("tool", "function"):  # "function": the legacy form, answered by name
        call_id = message.get("tool_call_id" if role == "tool" else "name")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"'{where}.tool_call_id' is required and must be a string")
        texts = _decode_content(where, content, assistant=False)
        if any(not isinstance(p, Text) for p in texts):
            raise ValueError(f"'{where}.content' of a tool message may hold only text")
        name = call_id if role == "function" else None
        result = ToolResult(call_id, [p for p in texts if isinstance(p, Text)], name)
        return Message("tool", [result])
    raise ValueError(
        f"'{where}.role' must be one of 'system', 'developer', 'user', 'assistant', 'tool'"
    )


def _decode_content(where: str, content: object, *, assistant: bool) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [] if assistant and not content else [Text(content)]
    if not isinstance(content, list):
        raise ValueError(f"'{where}.content' must be a string or an array of content parts")
    parts: list[Part] = []
    for i, raw in enumerate(content):
        part_where = f"{where}.content[{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"'{part_where}' must be an object")
        kind = raw.get("type")
        if kind in ("text", "refusal"):
            text = raw.get(kind)
            if not isinstance(text, str):
                raise ValueError(f"'{part_where}.{kind}' must be a string")
            if text or not assistant:
                parts.append(Text(text))
        elif kind == "image_url":
            image = raw.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise ValueError(f"'{part_where}.image_url.url' must be a string")
            parts.append(_decode_image(url))
        elif kind == "input_audio":
            audio = raw.get("input_audio")
            data = audio.get("data") if isinstance(audio, dict) else None
            fmt = audio.get("format") if isinstance(audio, dict) else None
            if not isinstance(data, str) or not isinstance(fmt, str):
                raise ValueError(f"'{part_where}.input_audio' must have string 'data' and 'format'")
            parts.append(Audio(data, fmt))
        else:
            raise ValueError(f"'{part_where}.type' {kind!r} is not supported")
    return parts


def _decode_image(url: str) -> Image:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return Image(url=url)
    return Image(data=match["data"], media_type=match["type"] or None)


def _decode_tool_calls(where: str, calls: object) -> list[Part]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise ValueError(f"'{where}.tool_calls' must be an array")
    out: list[Part] = []
    for i, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        call_id = call.get("id") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(call_id, str):
            raise ValueError(f"'{where}.tool_calls[{i}]' must have an 'id' and a 'function'")
        fn_name, arguments = function.get("name"), function.get("arguments", "")
        if not isinstance(fn_name, str) or not fn_name:
            raise ValueError(f"'{where}.tool_calls[{i}].function.name' must be a string")
        if isinstance(arguments, dict):  # lenient: the object instead of its JSON text
            arguments = orjson.dumps(arguments).decode()
        if not isinstance(arguments, str):
            raise ValueError(f"'{where}.tool_calls[{i}].function.arguments' must be a string")
        out.append(ToolCall(call_id, fn_name, arguments))
    return out


def _name_results(messages: list[Message]) -> None:
    """Formats that answer calls by function name (Gemini) need it on the result."""
    names: dict[str, str] = {}
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolCall):
                names[part.id] = part.name
            elif isinstance(part, ToolResult) and part.name is None:
                part.name = names.get(part.call_id)


def _decode_stop(stop: object) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop) or None
    raise ValueError("'stop' must be a string or an array of strings")


def _decode_tools(tools: object) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    out: list[Tool] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ValueError(f"'tools[{i}]' must be a function tool ({{'type': 'function'}})")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise ValueError(f"'tools[{i}].function' must be an object")
        fn_name, description = function.get("name"), function.get("description")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(fn_name, str) or not fn_name:
            raise ValueError(f"'tools[{i}].function.name' must be a non-empty string")
        if description is not None and not isinstance(description, str):
            raise ValueError(f"'tools[{i}].function.description' must be a string")
        if not isinstance(parameters, dict):
            raise ValueError(f"'tools[{i}].function.parameters' must be an object")
        out.append(Tool(fn_name, description, parameters))
    return out or None


def _decode_tool_choice(choice: object, parallel: object) -> ToolChoice | None:
    if parallel is not None and not isinstance(parallel, bool):
        raise ValueError("'parallel_tool_calls' must be a boolean")
    if choice is None:
        return None if parallel is None else ToolChoice("auto", parallel=parallel)
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice, parallel=parallel)
    function = choice.get("function") if isinstance(choice, dict) else None
    fn_name = function.get("name") if isinstance(function, dict) else None
    if isinstance(fn_name, str) and fn_name:
        return ToolChoice("tool", fn_name, parallel)
    raise ValueError(
        "'tool_choice' must be 'auto', 'none', 'required' or "
        "{'type': 'function', 'function': {'name': ...}}"
    )


def _decode_effort(effort: object) -> Thinking | None:
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in _EFFORTS:
        raise ValueError("'reasoning_effort' must be one of " + ", ".join(map(repr, _EFFORTS)))
    level = _EFFORTS[effort]
    return None if level is None else Thinking(effort=level)


def _decode_response_format(fmt: object) -> Json | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise ValueError("'response_format.type' must be 'text', 'json_object' or 'json_schema'")
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        raise ValueError("'response_format.json_schema' must be an object")
    return None if fmt["type"] == "text" else fmt


def encode_request(request: ChatRequest) -> Json:
    body: Json = {"model": request.model, "messages": _encode_messages(request.messages)}
    optional: Json = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": request.stop,
        "n": request.n,
        "seed": request.seed,
        "response_format": request.response_format,
        "user": request.user,
    }
    body.update((k, v) for k, v in optional.items() if v is not None)
    if request.tools:
        body["tools"] = [_encode_tool(t) for t in request.tools]
        choice = request.tool_choice
        if choice is not None:
            if choice.mode == "tool":
                body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
            else:
                body["tool_choice"] = choice.mode
            if choice.parallel is not None:
                body["parallel_tool_calls"] = choice.parallel
    effort = _encode_effort(request.thinking)
    if effort is not None:
        body["reasoning_effort"] = effort
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the relay meters every stream
    return body


def _encode_tool(tool: Tool) -> Json:
    function: Json = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    return {"type": "function", "function": function}


def _encode_effort(thinking: Thinking | None) -> Effort | None:
    if thinking is None:
        return None
    if thinking.effort is not None:
        return thinking.effort
    budget = thinking.budget_tokens
    if budget is None:
        return None
    return effort_for(budget)


def _encode_messages(messages: list[Message]) -> list[Json]:
    out: list[Json] = []
    # Images a tool returned: OpenAI tool messages hold only text, so they follow the run
    # of tool messages in a user message.
    tool_images: list[Json] = []
    for message in messages:
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        rest: list[Part] = [p for p in message.parts if not isinstance(p, ToolResult)]
        if tool_images and (rest or not results):
            out.append({"role": "user", "content": tool_images})
            tool_images = []
        for result in results:
            texts = [c.text for c in result.content if isinstance(c, Text)]
            images = [_encode_image(c) for c in result.content if isinstance(c, Image)]
            content: str | list[Json] = (
                texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]
            )
            out.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
            if images:
                label = f"Images returned by tool call {result.call_id}:"
                tool_images += [{"type": "text", "text": label}, *images]
        if rest or not results:
            out.append(_encode_message(message.role, rest))
    if tool_images:
        out.append({"role": "user", "content": tool_images})
    return out


def _encode_message(role: Role, parts: list[Part]) -> Json:
    if role == "assistant":
        text = "".join(p.text for p in parts if isinstance(p, Text))
        calls = [_encode_call(p) for p in parts if isinstance(p, ToolCall)]
        message: Json = {"role": "assistant", "content": text or (None if calls else "")}
        if calls:
            message["tool_calls"] = calls
        return message
    if role in ("system", "tool"):  # a tool message without results: say it as the user
        texts = [p.text for p in parts if isinstance(p, Text)]
        wire_role = "system" if role == "system" else "user"
        if len(texts) == 1:
            return {"role": wire_role, "content": texts[0]}
        return {"role": wire_role, "content": [{"type": "text", "text": t} for t in texts]}
    if len(parts) == 1 and isinstance(parts[0], Text):
        return {"role": "user", "content": parts[0].text}
    content: list[Json] = []
    for part in parts:
        if isinstance(part, Text):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, Image):
            content.append(_encode_image(part))
        elif isinstance(part, Audio):
            content.append(
                {"type": "input_audio", "input_audio": {"data": part.data, "format": part.format}}
            )
    return {"role": "user", "content": content}


def _encode_image(image: Image) -> Json:
    url = image.url
    if url is None:
        url = f"data:{image.media_type or 'image/png'};base64,{image.data or ''}"
    return {"type": "image_url", "image_url": {"url": url}}


def _encode_call(call: ToolCall) -> Json:
    function = {"name": call.name, "arguments": call.arguments or "{}"}
    return {"id": call.id, "type": "function", "function": function}


# ---- responses ------------------------------------------------------------------------


def decode_response(body: Any) -> ChatResponse:
    if not isinstance(body, dict):
        raise ValueError("response body must be a JSON object")
    error = body.get("error")
    if isinstance(error, dict) and "choices" not in body:
        raise ValueError(str(error.get("message") or error))
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list):
        raise ValueError("response has no 'choices' array")
    choices: list[Choice] = []
    for position, raw in enumerate(raw_choices):
        if not isinstance(raw, dict):
            raise ValueError(f"'choices[{position}]' must be an object")
        index = raw.get("index")
        index = index if isinstance(index, int) and not isinstance(index, bool) else position
        message = raw.get("message")
        message = message if isinstance(message, dict) else {}
        parts: list[Part] = []
        parts += reasoning_parts(message, "message")
        parts += _decode_content("message", message.get("content"), assistant=True)
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            parts.append(Text(refusal))
        parts += _decode_tool_calls("message", message.get("tool_calls"))
        legacy = message.get("function_call")
        if isinstance(legacy, dict) and not message.get("tool_calls"):
            wrapped = [{"id": f"call_{index}", "type": "function", "function": legacy}]
            parts += _decode_tool_calls("message", wrapped)
        reason = decode_finish(raw.get("finish_reason"))
        choices.append(Choice(index, Message("assistant", parts), reason))
    created = body.get("created")
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        created=created if isinstance(created, int) and not isinstance(created, bool) else 0,
        choices=choices,
        usage=decode_usage(body.get("usage")),
    )


def encode_response(response: ChatResponse) -> Json:
    choices: list[Json] = []
    for choice in response.choices:
        parts = choice.message.parts
        text = "".join(p.text for p in parts if isinstance(p, Text))
        calls = [_encode_call(p) for p in parts if isinstance(p, ToolCall)]
        reasoning = "".join(p.text for p in parts if isinstance(p, Reasoning))
        message: Json = {
            "role": "assistant",
            "content": text or (None if calls else ""),
            "refusal": None,
        }
        if reasoning:
            message["reasoning_content"] = reasoning
        details = encode_details(parts)
        if details:
            message["reasoning_details"] = details
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": choice.index,
                "message": message,
                "logprobs": None,
                "finish_reason": encode_finish(choice.finish_reason),
            }
        )
    body: Json = {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": choices,
    }
    if response.usage is not None:
        body["usage"] = encode_usage(response.usage)
    return body


# ---- streams --------------------------------------------------------------------------


def stream_decoder() -> OpenAIStreamDecoder:
    return OpenAIStreamDecoder()


def stream_encoder(request: ChatRequest) -> OpenAIStreamEncoder:
    return OpenAIStreamEncoder(request)


CODEC: Codec = module_codec(name, sys.modules[__name__])
