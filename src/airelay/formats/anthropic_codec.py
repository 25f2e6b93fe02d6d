"""Anthropic Messages API <-> the chat IR: requests, responses and error bodies. The
stream translators, and the wire vocabulary both share, live in ``anthropic_stream``.

What the IR cannot carry is left out on decode (documents, server tools, cache
control): the surface decodes every Anthropic request, and one bound for an Anthropic
channel passes through as the client sent it, so such blocks only fall away when the
request is translated to another format.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from airelay.formats.anthropic_fields import (
    block_type,
    integer,
    is_int,
    number,
    optional_string,
    parse_arguments,
    string,
    strings,
)
from airelay.formats.anthropic_output import JSON_ONLY, decode_output_format, structured
from airelay.formats.anthropic_stream import (
    AnthropicStreamDecoder,
    AnthropicStreamEncoder,
    compact_json,
    decode_stop_reason,
    encode_stop_reason,
    encode_usage,
    error_type,
    message_id,
    tool_id,
)
from airelay.formats.anthropic_thinking import close_tool_loop, unsigned_tool_loop
from airelay.formats.codec import Codec, module_codec
from airelay.formats.ir import (
    Audio,
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
    ToolChoice,
    ToolResult,
)
from airelay.formats.thinking import anthropic_budget
from airelay.formats.usage import Usage, from_anthropic

Json = dict[str, Any]

NAME: Final = "anthropic"
DEFAULT_MAX_TOKENS: Final = 4096  # Anthropic requires max_tokens; the IR may have none
MIN_THINKING_BUDGET: Final = 1024
# Anthropic refuses a conversation that is empty or opens with the assistant; this is the
# user turn put in front when the IR has none.
PLACEHOLDER_TURN: Final = "."

# Block types of the Messages API the IR has no place for; dropped on decode.
_UNCARRIED_BLOCKS: Final = frozenset(
    {
        "document",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
    }
)


def error_body(status: int, message: str, type_: str | None = None) -> Json:
    """Anthropic's error shape; ``type_`` is kept when it is (or aliases) an Anthropic type,
    else the type follows the status."""
    return {"type": "error", "error": {"type": error_type(status, type_), "message": message}}


# ---- requests: decode ---------------------------------------------------------------------


def decode_request(body: Any, *, model: str | None = None, stream: bool = False) -> ChatRequest:
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    model = body.get("model", model)
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if not is_int(max_tokens) or max_tokens < 1:
        raise ValueError("'max_tokens' is required and must be a positive integer")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise ValueError("'messages' is required and must be a non-empty array")

    messages = _decode_system(body.get("system"))
    call_names: dict[str, str] = {}
    for index, raw in enumerate(raw_messages):
        messages += _decode_turn(raw, f"messages[{index}]", call_names)

    tools = _decode_tools(body.get("tools"))
    thinking = _decode_thinking(body.get("thinking"))
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    stream_value = body.get("stream", stream)
    if stream_value is not None and not isinstance(stream_value, bool):
        raise ValueError("'stream' must be a boolean")
    return ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=number(body, "temperature"),
        top_p=number(body, "top_p"),
        top_k=integer(body, "top_k"),
        stop=strings(body, "stop_sequences"),
        tools=tools,
        tool_choice=_decode_tool_choice(body.get("tool_choice")),
        thinking=thinking,
        response_format=decode_output_format(body),
        user=user if isinstance(user, str) and user else None,
        stream=bool(stream_value),
    )


def _decode_system(system: object, at: str = "system") -> list[Message]:
    """The top-level ``system`` (or a ``system`` message's content at ``at``)."""
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [Message("system", [Text(system)])]
    if not isinstance(system, list):
        raise ValueError(f"'{at}' must be a string or an array of text blocks")
    parts: list[Part] = []
    for index, block in enumerate(system):
        where = f"{at}[{index}]"
        if block_type(block, where) != "text":
            raise ValueError(f"'{where}' must be a text block")
        parts.append(Text(string(block, "text", where)))
    return [Message("system", parts)] if parts else []


def _decode_turn(message: object, where: str, call_names: dict[str, str]) -> list[Message]:
    """One Anthropic message as IR messages: its tool results become ``tool`` messages (one
    per result, in place), the blocks between them messages of the turn's role."""
    if not isinstance(message, dict):
        raise ValueError(f"'{where}' must be an object")
    role = message.get("role")
    if role == "system":
        # System text between turns (Claude Code sends its reminders so): an IR system
        # message in place; formats without one gather it with the others.
        return _decode_system(message.get("content"), f"{where}.content")
    if role not in ("user", "assistant"):
        raise ValueError(f"'{where}.role' must be 'user', 'assistant' or 'system'")
    content = message.get("content")
    if isinstance(content, str):
        return [Message(role, [Text(content)])]
    if not isinstance(content, list):
        raise ValueError(f"'{where}.content' must be a string or an array of content blocks")
    out: list[Message] = []
    pending: list[Part] = []
    for index, block in enumerate(content):
        at = f"{where}.content[{index}]"
        kind = block_type(block, at)
        if kind == "tool_result":
            if role != "user":
                raise ValueError(f"'{at}': tool_result blocks belong in user messages")
            if pending:
                out.append(Message(role, pending))
                pending = []
            out.append(Message("tool", [_decode_tool_result(block, at, call_names)]))
            continue
        part = _decode_block(block, kind, at)
        if isinstance(part, ToolCall):
            call_names[part.id] = part.name
        if part is not None:
            pending.append(part)
    if pending or not out:
        out.append(Message(role, pending))
    return out


def _decode_block(block: Json, kind: str, where: str) -> Part | None:
    if kind == "text":
        return Text(string(block, "text", where))
    if kind == "image":
        return _decode_image(block, where)
    if kind == "tool_use":
        arguments = block.get("input", {})
        if not isinstance(arguments, dict):
            raise ValueError(f"'{where}.input' must be an object")
        return ToolCall(
            string(block, "id", where), string(block, "name", where), compact_json(arguments)
        )
    if kind == "thinking":
        signature = block.get("signature")
        return Reasoning(
            string(block, "thinking", where),
            signature if isinstance(signature, str) and signature else None,
        )
    if kind == "redacted_thinking":
        return Reasoning("", redacted=string(block, "data", where))
    if kind in _UNCARRIED_BLOCKS:
        return None
    raise ValueError(f"'{where}.type': unknown content block type {kind!r}")


def _decode_image(block: Json, where: str) -> Image:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if isinstance(source, dict) and kind == "base64":
        return Image(
            data=string(source, "data", where + ".source"),
            media_type=string(source, "media_type", where + ".source"),
        )
    if isinstance(source, dict) and kind == "url":
        return Image(url=string(source, "url", where + ".source"))
    raise ValueError(f"'{where}.source' must be a base64 or url image source")


def _decode_tool_result(block: Json, where: str, call_names: dict[str, str]) -> ToolResult:
    call_id = string(block, "tool_use_id", where)
    content = block.get("content")
    parts: list[Text | Image] = []
    if isinstance(content, str):
        parts.append(Text(content))
    elif isinstance(content, list):
        for index, item in enumerate(content):
            at = f"{where}.content[{index}]"
            kind = block_type(item, at)
            if kind == "text":
                parts.append(Text(string(item, "text", at)))
            elif kind == "image":
                parts.append(_decode_image(item, at))
            elif kind not in _UNCARRIED_BLOCKS:
                raise ValueError(f"'{at}.type': tool results hold text and image blocks")
    elif content is not None:
        raise ValueError(f"'{where}.content' must be a string or an array of blocks")
    is_error = block.get("is_error", False)
    if not isinstance(is_error, bool):
        raise ValueError(f"'{where}.is_error' must be a boolean")
    # The name is not on the wire; formats that need it (Gemini) find it here.
    return ToolResult(call_id, parts, call_names.get(call_id), is_error)


def _decode_tools(tools: object) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    out: list[Tool] = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise ValueError(f"'{where}' must be an object")
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search...): Anthropic runs it, no other format can
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise ValueError(f"'{where}.input_schema' must be an object")
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise ValueError(f"'{where}.description' must be a string")
        out.append(Tool(string(tool, "name", where), description, schema))
    return out or None


def _decode_tool_choice(choice: object) -> ToolChoice | None:
    if choice is None:
        return None
    if not isinstance(choice, dict):
        raise ValueError("'tool_choice' must be an object")
    kind = choice.get("type")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise ValueError("'tool_choice.disable_parallel_tool_use' must be a boolean")
    parallel = None if disable is None else not disable
    if kind == "auto":
        return ToolChoice("auto", parallel=parallel)
    if kind == "any":
        return ToolChoice("required", parallel=parallel)
    if kind == "none":
        return ToolChoice("none")
    if kind == "tool":
        return ToolChoice("tool", string(choice, "name", "tool_choice"), parallel)
    raise ValueError("'tool_choice.type' must be one of auto, any, tool, none")


def _decode_thinking(thinking: object) -> Thinking | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise ValueError("'thinking' must be an object")
    kind = thinking.get("type")
    if kind == "disabled":
        return None
    if kind == "adaptive":
        return Thinking()
    if kind != "enabled":
        raise ValueError("'thinking.type' must be 'enabled', 'adaptive' or 'disabled'")
    budget = thinking.get("budget_tokens")
    if not is_int(budget) or budget < 1:
        raise ValueError("'thinking.budget_tokens' must be a positive integer")
    return Thinking(budget_tokens=budget)


# ---- requests: encode ---------------------------------------------------------------------


def encode_request(request: ChatRequest) -> Json:
    """The Anthropic body for ``request``. Raises ValueError for content Anthropic cannot
    take (audio, non-base64 data URLs)."""
    system = [
        part.text
        for message in request.messages
        if message.role == "system"
        for part in message.parts
        if isinstance(part, Text) and part.text
    ]
    schema, json_only = structured(request.response_format)
    if json_only:  # no JSON mode without a schema here: asked for in words, not dropped
        system.append(JSON_ONLY)
    body: Json = {"model": request.model}
    if schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    if len(system) == 1:
        body["system"] = system[0]
    elif system:
        body["system"] = [{"type": "text", "text": text} for text in system]
    body["messages"] = _encode_turns([m for m in request.messages if m.role != "system"])

    max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
    tools = request.tools or []
    choice = request.tool_choice if tools else None
    thinking = _thinking_budget(request.thinking)
    # Anthropic refuses thinking with a forced tool (the forced call is what the client
    # cannot do without); a tool loop whose calls came without signed thinking is closed
    # so that thinking stays on (``anthropic_thinking``).
    if choice is not None and choice.mode in ("required", "tool"):
        thinking = None
    if thinking is not None and unsigned_tool_loop(body["messages"]):
        body["messages"] = close_tool_loop(body["messages"])
    if thinking is not None:
        if max_tokens <= thinking:  # the budget is a part of max_tokens
            max_tokens += thinking
        body["thinking"] = {"type": "enabled", "budget_tokens": thinking}
    body["max_tokens"] = max_tokens

    # With thinking, Anthropic refuses temperature and top_k and a top_p under 0.95; newer
    # models refuse temperature together with top_p (OpenAI clients often send both).
    temperature = request.temperature if thinking is None else None
    if temperature is not None:
        body["temperature"] = min(max(temperature, 0.0), 1.0)  # OpenAI's range is 0..2
    top_p = request.top_p
    if top_p is not None and temperature is None and (thinking is None or top_p >= 0.95):
        body["top_p"] = top_p
    if request.top_k is not None and thinking is None:
        body["top_k"] = request.top_k
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if tools:
        body["tools"] = [_encode_tool(tool) for tool in tools]
    if choice is not None:
        body["tool_choice"] = _encode_tool_choice(choice)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return body


def _thinking_budget(thinking: Thinking | None) -> int | None:
    if thinking is None:
        return None
    budget = thinking.budget_tokens
    if budget is None:
        budget = anthropic_budget(thinking.effort)
    elif budget <= 0:
        return None
    return max(MIN_THINKING_BUDGET, budget)


def _encode_turns(messages: list[Message]) -> list[Json]:
    """Alternating user/assistant turns: tool messages become user turns of tool_result
    blocks; consecutive same-role messages merge; a user turn opens the conversation."""
    turns: list[tuple[str, list[Json]]] = []
    for message in messages:
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [b for p in message.parts if (b := _encode_part(p, role)) is not None]
        if not blocks:
            continue  # Anthropic refuses empty content
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    if not turns or turns[0][0] != "user":
        turns.insert(0, ("user", [{"type": "text", "text": PLACEHOLDER_TURN}]))
    out: list[Json] = []
    for role, blocks in turns:
        if role == "user":  # a turn's tool results must come before anything else in it
            blocks.sort(key=lambda block: block["type"] != "tool_result")
        out.append({"role": role, "content": blocks})
    return out


def _encode_part(part: Part, role: str) -> Json | None:
    if isinstance(part, Text):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, Image):
        return _encode_image(part)
    if isinstance(part, ToolCall):
        return {
            "type": "tool_use",
            "id": tool_id(part.id),
            "name": part.name,
            "input": parse_arguments(part.arguments),
        }
    if isinstance(part, ToolResult):
        block: Json = {"type": "tool_result", "tool_use_id": tool_id(part.call_id)}
        content = [b for p in part.content if (b := _encode_part(p, "user")) is not None]
        if content:
            block["content"] = content
        if part.is_error:
            block["is_error"] = True
        return block
    if isinstance(part, Reasoning):
        # Anthropic checks the signature of thinking it gets back; unsigned thinking (from
        # another format) would be refused.
        if role == "assistant" and part.redacted:
            return {"type": "redacted_thinking", "data": part.redacted}
        if role == "assistant" and part.signature:
            return {"type": "thinking", "thinking": part.text, "signature": part.signature}
        return None
    if isinstance(part, Audio):
        raise ValueError("audio input is not supported by Anthropic models")
    raise AssertionError(f"unknown part {part!r}")


def _encode_image(image: Image) -> Json:
    if image.data:
        source: Json = {
            "type": "base64",
            "media_type": image.media_type or "image/png",
            "data": image.data,
        }
        return {"type": "image", "source": source}
    url = image.url or ""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise ValueError("image data URLs must be base64-encoded")
        source = {"type": "base64", "media_type": media_type or "image/png", "data": data}
        return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _encode_tool(tool: Tool) -> Json:
    schema = (
        tool.parameters if tool.parameters.get("type") else {"type": "object", **tool.parameters}
    )
    out: Json = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = schema
    return out


def _encode_tool_choice(choice: ToolChoice) -> Json:
    if choice.mode == "none":
        return {"type": "none"}
    out: Json = {"type": {"auto": "auto", "required": "any", "tool": "tool"}[choice.mode]}
    if choice.mode == "tool":
        out["name"] = choice.name or ""
    if choice.parallel is not None:
        out["disable_parallel_tool_use"] = not choice.parallel
    return out


# ---- responses ----------------------------------------------------------------------------


def decode_response(body: Any) -> ChatResponse:
    if not isinstance(body, dict):
        raise ValueError("response body must be a JSON object")
    if body.get("type") == "error":
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise ValueError(message if isinstance(message, str) else "upstream error")
    content = body.get("content")
    parts: list[Part] = []
    for block in content if isinstance(content, list) else ():
        part = _response_part(block) if isinstance(block, dict) else None
        if part is not None:
            parts.append(part)
    return ChatResponse(
        id=optional_string(body.get("id")),
        model=optional_string(body.get("model")),
        created=0,  # Anthropic has no timestamp; 0 = unknown (the encoder's caller fills in)
        choices=[
            Choice(0, Message("assistant", parts), decode_stop_reason(body.get("stop_reason")))
        ],
        usage=from_anthropic(body.get("usage")),
    )


def _response_part(block: Json) -> Part | None:
    kind = block.get("type")
    if kind == "text":
        return Text(optional_string(block.get("text")))
    if kind == "tool_use":
        arguments = block.get("input")
        return ToolCall(
            optional_string(block.get("id")),
            optional_string(block.get("name")),
            compact_json(arguments if isinstance(arguments, dict) else {}),
        )
    if kind == "thinking":
        signature = block.get("signature")
        return Reasoning(
            optional_string(block.get("thinking")),
            signature if isinstance(signature, str) and signature else None,
        )
    if kind == "redacted_thinking":
        data = block.get("data")
        return Reasoning("", redacted=data) if isinstance(data, str) and data else None
    return None  # server tool blocks: nothing the IR carries


def encode_response(response: ChatResponse) -> Json:
    """Anthropic has one choice: the one of index 0 is the message."""
    choice = next((c for c in response.choices if c.index == 0), None)
    content: list[Json] = []
    for part in choice.message.parts if choice else ():
        if isinstance(part, Text) and part.text:
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCall):
            content.append(_encode_part(part, "assistant") or {})
        elif isinstance(part, Reasoning) and part.redacted:
            content.append({"type": "redacted_thinking", "data": part.redacted})
        elif isinstance(part, Reasoning):
            # The SDK requires a signature string; an unsigned one (from another format)
            # is empty, and so dropped again when the client sends it back.
            content.append(
                {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
            )
    return {
        "id": message_id(response.id),
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": encode_stop_reason(choice.finish_reason if choice else None),
        "stop_sequence": None,
        "usage": encode_usage(response.usage or Usage()),
    }


# ---- the codec object ---------------------------------------------------------------------


def stream_decoder() -> AnthropicStreamDecoder:
    return AnthropicStreamDecoder()


def stream_encoder(request: ChatRequest) -> AnthropicStreamEncoder:
    return AnthropicStreamEncoder(request)


CODEC: Codec = module_codec(NAME, sys.modules[__name__])
