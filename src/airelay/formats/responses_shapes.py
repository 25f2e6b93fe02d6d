"""OpenAI Responses: the wire facts its whole-answer codec (``responses_codec``) and its
stream codec (``responses_stream``) share: usage, ids, statuses, the response object's
frame (with the request's settings echoed), tools, and how another format's reasoning
signature travels inside ``encrypted_content``."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from airelay.formats.ir import (
    ChatRequest,
    FinishReason,
    Message,
    Text,
    Tool,
    ToolChoice,
)
from airelay.formats.openai_stream import ERROR_TYPES
from airelay.formats.usage import Usage

Json = dict[str, Any]

#: The events that end a Responses stream as complete (``response.failed`` does not: the
#: relay records such a stream as failed).
END_EVENTS = frozenset({"response.completed", "response.incomplete"})
TERMINAL_EVENTS = END_EVENTS | {"response.failed"}


def error_body(status: int, message: str, type_: str | None = None) -> Json:
    """The Responses API's errors are OpenAI's: ``{"error": {message, type, code}}``."""
    return {
        "error": {
            "message": message,
            "type": type_ or ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": status,
        }
    }


def response_id(value: str) -> str:
    return value if value.startswith("resp_") else "resp_" + (value or uuid.uuid4().hex)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def decode_usage(usage: object) -> Usage | None:
    """A Responses ``usage``: ``input_tokens`` include the cached ones, ``output_tokens``
    the reasoning ones (the IR's conventions)."""
    if not isinstance(usage, dict):
        return None
    inputs = usage.get("input_tokens_details")
    outputs = usage.get("output_tokens_details")
    inputs = inputs if isinstance(inputs, dict) else {}
    outputs = outputs if isinstance(outputs, dict) else {}
    return Usage(
        prompt_tokens=_int(usage.get("input_tokens")),
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=_int(inputs.get("cached_tokens")),
        reasoning_tokens=_int(outputs.get("reasoning_tokens")),
        cache_write_tokens=_int(inputs.get("cache_write_tokens")),
    )


def encode_usage(usage: Usage) -> Json:
    inputs: Json = {
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": inputs,
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def status_of(reason: FinishReason | None) -> tuple[str, Json | None]:
    """A response's ``status`` and ``incomplete_details`` for the IR's finish reason."""
    if reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    if reason == "error":
        return "failed", None
    return "completed", None


def finish_of(status: object, details: object, has_calls: bool) -> FinishReason | None:
    """The IR's finish reason for a response's ``status`` and ``incomplete_details``."""
    if status == "incomplete":
        reason = details.get("reason") if isinstance(details, dict) else None
        return "content_filter" if reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    return None


#: A reasoning item's ``encrypted_content`` that carries another format's signature (an
#: Anthropic thinking signature, a Gemini thought signature) to a Responses client and back:
#: the client returns the item as it got it, and the signature goes back where it came
#: from. Never sent to a Responses upstream (it is not OpenAI's).
SIGNATURE_PREFIX = "airelay-signature:"


def opaque(signature: str | None, encrypted: str | None) -> str | None:
    """A reasoning item's ``encrypted_content`` for a part with these fields."""
    if encrypted:
        return encrypted
    return SIGNATURE_PREFIX + signature if signature else None


def unwrap(content: str) -> tuple[str | None, str | None]:
    """``(signature, encrypted)`` of a reasoning item's ``encrypted_content``."""
    if content.startswith(SIGNATURE_PREFIX):
        return content[len(SIGNATURE_PREFIX) :] or None, None
    return None, content or None


def custom_names(request: ChatRequest | None) -> frozenset[str]:
    """The names of the request's custom (free-text input) tools."""
    if request is None or not request.tools:
        return frozenset()
    return frozenset(tool.name for tool in request.tools if tool.custom)


def custom_input(arguments: str) -> str:
    """A custom tool call's text, from the IR's ``{"input": <text>}`` arguments (an
    upstream that answered otherwise gets its arguments passed as the text)."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return value["input"]  # type: ignore[no-any-return]
    return arguments


def frame(
    request: ChatRequest | None,
    id_: str,
    model: str,
    created: int,
    status: str,
    output: list[Json],
    usage: Usage | None,
    incomplete: Json | None = None,
    error: Json | None = None,
) -> Json:
    """A response object, with the request's settings echoed as OpenAI does."""
    body: Json = {
        "id": response_id(id_),
        "object": "response",
        "created_at": created,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None if usage is None else encode_usage(usage),
        "user": None,
        "metadata": {},
    }
    if request is not None:
        body.update(echo(request))
    return body


def encode_tool(tool: Tool) -> Json:
    if tool.custom:
        custom: Json = {"type": "custom", "name": tool.name}
        if tool.description is not None:
            custom["description"] = tool.description
        if tool.format is not None:
            custom["format"] = tool.format
        return custom
    function: Json = {"type": "function", "name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    function["strict"] = False
    return function


def encode_tool_choice(choice: ToolChoice, tools: list[Tool]) -> Json | str:
    if choice.mode != "tool":
        return choice.mode
    custom = any(t.custom and t.name == choice.name for t in tools)
    return {"type": "custom" if custom else "function", "name": choice.name}


def encode_format(response_format: Json | None) -> Json:
    """IR (OpenAI chat's ``response_format``) -> Responses ``text.format``."""
    if response_format is None:
        return {"type": "text"}
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema") or {}
        out: Json = {"type": "json_schema"}
        out.update((k, v) for k, v in schema.items() if k in _SCHEMA_KEYS)
        return out
    return {"type": "json_object"}


_SCHEMA_KEYS = ("name", "schema", "strict", "description")


def echo(request: ChatRequest) -> Json:
    """The request's settings as a response object repeats them."""
    instructions = [
        p.text for m in _leading_system(request) for p in m.parts if isinstance(p, Text)
    ]
    thinking = request.thinking
    tools = request.tools or []
    choice = request.tool_choice
    return {
        "instructions": "\n\n".join(instructions) or None,
        "max_output_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "tools": [encode_tool(t) for t in tools],
        "tool_choice": "auto" if choice is None else encode_tool_choice(choice, tools),
        "parallel_tool_calls": choice is None or choice.parallel is not False,
        "reasoning": {
            "effort": None if thinking is None else thinking.effort,
            "summary": "auto" if thinking is not None and thinking.include else None,
        },
        "text": {"format": encode_format(request.response_format)},
        "user": request.user,
    }


def _leading_system(request: ChatRequest) -> list[Message]:
    out: list[Message] = []
    for message in request.messages:
        if message.role != "system":
            break
        out.append(message)
    return out
