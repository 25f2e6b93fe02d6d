"""The OpenAI Responses codec: request and response bodies <-> the canonical IR.

Streams live in ``responses_stream``. Choices the other codecs and the relay rely on:
- ``instructions`` and ``system``/``developer`` messages are IR system messages;
  consecutive assistant-side items (``reasoning``, assistant messages, ``function_call``,
  ``custom_tool_call``) make one IR assistant message, each ``*_output`` one tool message;
- a ``reasoning`` item is ``Reasoning(summary text, encrypted=encrypted_content)``; only a
  Responses upstream gets it back (a reasoning part without ``encrypted`` is dropped
  there, as OpenAI cannot take reasoning it did not produce). Another format's signature
  travels to a Responses client inside ``encrypted_content`` (``SIGNATURE_PREFIX``) and
  decodes back to ``Reasoning.signature`` when the client returns the item;
- a ``custom`` tool is an IR function of one string ``input`` (see ``ir.Tool``);
- features with no IR counterpart (built-in tools, ``background``, stored items) raise
  ``Untranslatable``: such a call is served only by a Responses upstream, bytes passed;
- ``encode_request`` never writes ``stop``, ``seed``, ``top_k`` or ``n`` (the API has none).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from airelay.formats.codec import Codec, module_codec
from airelay.formats.fields import number as _number
from airelay.formats.fields import optional as _opt
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Image,
    Message,
    Part,
    Reasoning,
    Role,
    Text,
    ToolCall,
    ToolResult,
)
from airelay.formats.responses_options import (
    Untranslatable,
    decode_reasoning,
    decode_text,
    decode_tool_choice,
    decode_tools,
    hosted,
)
from airelay.formats.responses_shapes import (
    custom_input,
    custom_names,
    decode_usage,
    encode_format,
    encode_tool,
    encode_tool_choice,
    error_body,
    finish_of,
    frame,
    opaque,
    response_id,
    status_of,
    unwrap,
)
from airelay.formats.responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from airelay.formats.thinking import effort_for

__all__ = [
    "CODEC",
    "Untranslatable",
    "check_request",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_body",
    "name",
    "stream_decoder",
    "stream_encoder",
]

name = "responses"

Json = dict[str, Any]

#: The smallest ``max_output_tokens`` OpenAI's Responses API takes.
MIN_OUTPUT_TOKENS = 16
_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
_ASSISTANT_ITEMS = ("reasoning", "function_call", "custom_tool_call")
_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")
#: A custom tool as every other format sees it: a function of one string.
# ---- requests -------------------------------------------------------------------------


def check_request(payload: object) -> tuple[str, bool]:
    """What the relay relies on, for a call that may pass through without decoding:
    ``(model, stream)``. Raises ``ValueError`` with a message for the client."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise ValueError("'stream' must be a boolean")
    inputs = payload.get("input")
    if not isinstance(inputs, str | list) or not inputs:
        raise ValueError("'input' is required: a string or a non-empty array of items")
    cap = payload.get("max_output_tokens")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise ValueError("'max_output_tokens' must be a positive integer")
    return model, bool(stream)


def decode_request(body: Any, *, model: str | None = None, stream: bool = False) -> ChatRequest:
    """The request in the IR. A request with tools built into OpenAI's service raises
    ``Untranslatable`` carrying, as ``lenient``, the request without them."""
    tools = body.get("tools") if isinstance(body, dict) else None
    if isinstance(tools, list) and any(hosted(tool) for tool in tools):
        without = [tool for tool in tools if not hosted(tool)]
        lenient = _decode_request({**body, "tools": without or None}, model=model, stream=stream)
        names = ", ".join(sorted({str(tool.get("type")) for tool in tools if hosted(tool)}))
        raise Untranslatable(f"the built-in tools ({names}) are not supported", lenient)
    return _decode_request(body, model=model, stream=stream)


def _decode_request(body: Any, *, model: str | None, stream: bool) -> ChatRequest:
    model_name, is_stream = check_request(body)
    for key in ("background", "conversation", "prompt"):
        if body.get(key):
            raise Untranslatable(f"'{key}' is not supported")
    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ValueError("'instructions' must be a string")
        if instructions:
            messages.append(Message("system", [Text(instructions)]))
    inputs = body["input"]
    if isinstance(inputs, str):
        messages.append(Message("user", [Text(inputs)]))
    else:
        messages += _decode_items(inputs)
    tools = decode_tools(body.get("tools"))
    request = ChatRequest(
        model=model_name,
        messages=messages,
        max_tokens=_opt(body, "max_output_tokens", int),
        temperature=_number(body, "temperature"),
        top_p=_number(body, "top_p"),
        tools=tools,
        tool_choice=decode_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls")),
        thinking=decode_reasoning(body.get("reasoning")),
        response_format=decode_text(body.get("text")),
        user=_opt(body, "user", str) or _opt(body, "safety_identifier", str),
        stream=is_stream or stream,
    )
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object")
    for key in ("prompt_cache_key", "service_tier", "truncation"):
        _opt(body, key, str)
    include = body.get("include")
    if include is not None and not (
        isinstance(include, list) and all(isinstance(i, str) for i in include)
    ):
        raise ValueError("'include' must be an array of strings")
    request.include_usage = request.stream
    return request


def _decode_items(items: list[Any]) -> list[Message]:
    messages: list[Message] = []
    names: dict[str, str] = {}
    assistant: Message | None = None  # the assistant message items are being added to
    for index, item in enumerate(items):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"'{where}' must be an object")
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            role = item.get("role")
            if not isinstance(role, str) or role not in _ROLES:
                raise ValueError(
                    f"'{where}.role' must be one of 'user', 'system', 'developer', 'assistant'"
                )
            parts = _decode_content(where, item.get("content"), role == "assistant")
            if role == "assistant":
                if assistant is None:
                    assistant = Message("assistant", [])
                    messages.append(assistant)
                assistant.parts += parts
                continue
            assistant = None
            if role != "user" and any(not isinstance(p, Text) for p in parts):
                raise ValueError(f"'{where}.content' of a {role} message may hold only text")
            messages.append(Message(_ROLES[role], parts))
        elif kind in _ASSISTANT_ITEMS:
            if assistant is None:
                assistant = Message("assistant", [])
                messages.append(assistant)
            part = _decode_assistant_item(where, kind, item)
            if isinstance(part, ToolCall):
                names[part.id] = part.name
            if part is not None:
                assistant.parts.append(part)
        elif kind in _OUTPUT_ITEMS:
            assistant = None
            call_id = item.get("call_id")
            if not isinstance(call_id, str) or not call_id:
                raise ValueError(f"'{where}.call_id' is required and must be a string")
            content = _decode_output(where, item.get("output"))
            messages.append(Message("tool", [ToolResult(call_id, content, names.get(call_id))]))
        elif kind == "item_reference":
            raise ValueError(f"'{where}': item references need stored responses (not supported)")
        else:
            raise Untranslatable(f"'{where}.type' {kind!r} is not supported")
    # An assistant message of reasoning alone says nothing to a format without it.
    return [m for m in messages if m.parts or m.role != "assistant"]


def _decode_assistant_item(where: str, kind: str, item: Json) -> Part | None:
    if kind == "reasoning":
        summary = item.get("summary") or []
        content = item.get("content") or []
        if not isinstance(summary, list) or not isinstance(content, list):
            raise ValueError(f"'{where}.summary' must be an array")
        texts = [s.get("text") for s in [*summary, *content] if isinstance(s, dict)]
        text = "\n\n".join(t for t in texts if isinstance(t, str))
        content = item.get("encrypted_content")
        if content is not None and not isinstance(content, str):
            raise ValueError(f"'{where}.encrypted_content' must be a string")
        if not text and not content:
            return None
        signature, encrypted = unwrap(content or "")
        return Reasoning(text, signature, encrypted)
    call_id, fn_name = item.get("call_id"), item.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"'{where}.call_id' is required and must be a string")
    if not isinstance(fn_name, str) or not fn_name:
        raise ValueError(f"'{where}.name' is required and must be a string")
    if kind == "custom_tool_call":
        given = item.get("input")
        if not isinstance(given, str):
            raise ValueError(f"'{where}.input' must be a string")
        return ToolCall(call_id, fn_name, orjson.dumps({"input": given}).decode())
    arguments = item.get("arguments", "")
    if isinstance(arguments, dict):
        arguments = orjson.dumps(arguments).decode()
    if not isinstance(arguments, str):
        raise ValueError(f"'{where}.arguments' must be a string")
    return ToolCall(call_id, fn_name, arguments)


def _decode_content(where: str, content: object, assistant: bool) -> list[Part]:
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
        if kind in ("input_text", "output_text", "text", "refusal"):
            text = raw.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise ValueError(f"'{part_where}.text' must be a string")
            if text or not assistant:
                parts.append(Text(text))
        elif kind == "input_image":
            url = raw.get("image_url")
            if not isinstance(url, str) or not url:
                raise Untranslatable(f"'{part_where}': only images by 'image_url' translate")
            parts.append(_decode_image(url))
        else:
            raise Untranslatable(f"'{part_where}.type' {kind!r} is not supported")
    return parts


def _decode_image(url: str) -> Image:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return Image(data=data, media_type=head.split(";")[0] or None)
    return Image(url=url)


def _decode_output(where: str, output: object) -> list[Text | Image]:
    if isinstance(output, str):
        return [Text(output)]
    if not isinstance(output, list):
        raise ValueError(f"'{where}.output' must be a string or an array of content parts")
    parts = _decode_content(where, output, False)
    return [p for p in parts if isinstance(p, Text | Image)]


def encode_request(request: ChatRequest) -> Json:
    custom = custom_names(request)
    instructions: list[str] = []
    items: list[Json] = []
    leading = True
    for message in request.messages:
        if message.role == "system":
            texts = [p.text for p in message.parts if isinstance(p, Text)]
            if leading:
                instructions += texts
            else:
                content = [{"type": "input_text", "text": t} for t in texts]
                items.append({"type": "message", "role": "developer", "content": content})
            continue
        leading = False
        items += _encode_message(message, custom)
    body: Json = {"model": request.model, "input": items, "store": False}
    if instructions:
        body["instructions"] = "\n\n".join(instructions)
    cap = request.max_tokens
    optional: Json = {
        # OpenAI refuses a cap below 16: a smaller one is raised to it (billed as used).
        "max_output_tokens": None if cap is None else max(cap, MIN_OUTPUT_TOKENS),
        "temperature": request.temperature,
        "top_p": request.top_p,
        "user": request.user,
    }
    body.update((k, v) for k, v in optional.items() if v is not None)
    if request.tools:
        body["tools"] = [encode_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = encode_tool_choice(request.tool_choice, request.tools)
            if request.tool_choice.parallel is not None:
                body["parallel_tool_calls"] = request.tool_choice.parallel
    thinking = request.thinking
    if thinking is not None:
        effort = thinking.effort
        if effort is None and thinking.budget_tokens is not None:
            effort = effort_for(thinking.budget_tokens)
        reasoning: Json = {"effort": effort or "medium"}
        if thinking.include:
            reasoning["summary"] = "auto"
        body["reasoning"] = reasoning
        body["include"] = ["reasoning.encrypted_content"]  # reasoning kept across turns
    if request.response_format is not None:
        body["text"] = {"format": encode_format(request.response_format)}
    if request.stream:
        body["stream"] = True
    return body


def _encode_message(message: Message, custom: frozenset[str]) -> list[Json]:
    if message.role == "tool":
        out: list[Json] = []
        for part in message.parts:
            if isinstance(part, ToolResult):
                kind = "custom_tool_call_output" if part.name in custom else "function_call_output"
                out.append({"type": kind, "call_id": part.call_id, "output": _encode_output(part)})
            elif isinstance(part, Text):
                content = [{"type": "input_text", "text": part.text}]
                out.append({"type": "message", "role": "user", "content": content})
        return out
    if message.role == "assistant":
        out = []
        texts: list[str] = []

        def flush() -> None:
            if texts:
                content = [{"type": "output_text", "text": "".join(texts), "annotations": []}]
                out.append({"type": "message", "role": "assistant", "content": content})
                texts.clear()

        for part in message.parts:
            if isinstance(part, Text):
                texts.append(part.text)
            elif isinstance(part, Reasoning) and part.encrypted:
                flush()
                summary = [{"type": "summary_text", "text": part.text}] if part.text else []
                out.append(
                    {"type": "reasoning", "summary": summary, "encrypted_content": part.encrypted}
                )
            elif isinstance(part, ToolCall):
                flush()
                if part.name in custom:
                    out.append(
                        {
                            "type": "custom_tool_call",
                            "call_id": part.id,
                            "name": part.name,
                            "input": custom_input(part.arguments),
                        }
                    )
                else:
                    out.append(
                        {
                            "type": "function_call",
                            "call_id": part.id,
                            "name": part.name,
                            "arguments": part.arguments or "{}",
                        }
                    )
        flush()
        return out
    parts: list[Json] = []
    for part in message.parts:
        if isinstance(part, Text):
            parts.append({"type": "input_text", "text": part.text})
        elif isinstance(part, Image):
            parts.append(_encode_image(part))
    return [{"type": "message", "role": "user", "content": parts}]


def _encode_image(image: Image) -> Json:
    url = image.url
    if url is None:
        url = f"data:{image.media_type or 'image/png'};base64,{image.data or ''}"
    return {"type": "input_image", "image_url": url, "detail": "auto"}


def _encode_output(result: ToolResult) -> str | list[Json]:
    if all(isinstance(c, Text) for c in result.content) and len(result.content) <= 1:
        return "".join(c.text for c in result.content if isinstance(c, Text))
    return [
        {"type": "input_text", "text": c.text} if isinstance(c, Text) else _encode_image(c)
        for c in result.content
    ]


# ---- responses ------------------------------------------------------------------------


def decode_response(body: Any) -> ChatResponse:
    if not isinstance(body, dict):
        raise ValueError("response body must be a JSON object")
    error = body.get("error")
    if isinstance(error, dict) and not isinstance(body.get("output"), list):
        raise ValueError(str(error.get("message") or error))
    output = body.get("output")
    if not isinstance(output, list):
        raise ValueError("response has no 'output' array")
    parts: list[Part] = []
    for index, item in enumerate(output):
        if not isinstance(item, dict):
            raise ValueError(f"'output[{index}]' must be an object")
        kind = item.get("type")
        if kind == "message":
            parts += _decode_content(f"output[{index}]", item.get("content") or [], True)
        elif kind in _ASSISTANT_ITEMS:
            part = _decode_assistant_item(f"output[{index}]", kind, item)
            if part is not None:
                parts.append(part)
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    reason = finish_of(body.get("status"), body.get("incomplete_details"), has_calls)
    created = body.get("created_at")
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        created=int(created) if isinstance(created, int | float) else 0,
        choices=[Choice(0, Message("assistant", parts), reason)],
        usage=decode_usage(body.get("usage")),
    )


def encode_response(response: ChatResponse, request: ChatRequest | None = None) -> Json:
    """The first choice as a response object (a response has one); ``request``, when
    given, names the custom tools and is echoed as OpenAI does."""
    choice = response.choices[0] if response.choices else None
    reason = None if choice is None else choice.finish_reason
    status, incomplete = status_of(reason)
    base = response_id(response.id).removeprefix("resp_")
    custom = custom_names(request)
    output: list[Json] = []
    texts: list[str] = []
    item_status = "incomplete" if status == "incomplete" else "completed"

    def flush() -> None:
        if texts:
            part = {
                "type": "output_text",
                "annotations": [],
                "logprobs": [],
                "text": "".join(texts),
            }
            output.append(
                {
                    "id": f"msg_{base}_{len(output)}",
                    "type": "message",
                    "status": item_status,
                    "role": "assistant",
                    "content": [part],
                }
            )
            texts.clear()

    for part in [] if choice is None else choice.message.parts:
        if isinstance(part, Text):
            texts.append(part.text)
        elif isinstance(part, Reasoning):
            flush()
            item: Json = {
                "id": f"rs_{base}_{len(output)}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": part.text}] if part.text else [],
            }
            content = opaque(part.signature, part.encrypted)
            if content:
                item["encrypted_content"] = content
            output.append(item)
        elif isinstance(part, ToolCall):
            flush()
            if part.name in custom:
                output.append(
                    {
                        "id": "ctc_" + part.id,
                        "type": "custom_tool_call",
                        "status": "completed",
                        "call_id": part.id,
                        "name": part.name,
                        "input": custom_input(part.arguments),
                    }
                )
            else:
                output.append(
                    {
                        "id": "fc_" + part.id,
                        "type": "function_call",
                        "status": "completed",
                        "arguments": part.arguments or "{}",
                        "call_id": part.id,
                        "name": part.name,
                    }
                )
    flush()
    error = None
    if status == "failed":
        error = {"code": "server_error", "message": "the upstream ended the response with an error"}
    return frame(
        request,
        response.id,
        response.model,
        response.created,
        status,
        output,
        response.usage,
        incomplete,
        error,
    )


# ---- streams --------------------------------------------------------------------------


def stream_decoder() -> ResponsesStreamDecoder:
    return ResponsesStreamDecoder()


def stream_encoder(request: ChatRequest) -> ResponsesStreamEncoder:
    return ResponsesStreamEncoder(request)


CODEC: Codec = module_codec(name, sys.modules[__name__])
