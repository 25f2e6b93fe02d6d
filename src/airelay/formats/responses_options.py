"""OpenAI Responses request settings decoded into the IR: tools (function and custom),
``tool_choice``, ``reasoning`` and ``text.format``; and ``Untranslatable``, what only a
Responses upstream can serve as it stands (built-in tools and the like)."""

from __future__ import annotations

from typing import Any, Literal

from airelay.formats import codec
from airelay.formats.ir import ChatRequest, Thinking, Tool, ToolChoice

Json = dict[str, Any]
Effort = Literal["low", "medium", "high"]

_EFFORTS: dict[str, Effort | None] = {
    "none": None,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
}
_SUMMARIES = ("auto", "concise", "detailed")
_CUSTOM_PARAMETERS: Json = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's input, as text."}},
    "required": ["input"],
    "additionalProperties": False,
}


class Untranslatable(codec.Untranslatable):
    """A valid Responses request that only a Responses upstream can serve as it stands."""

    def __init__(self, message: str, lenient: ChatRequest | None = None) -> None:
        super().__init__(
            message + " here: only a channel speaking the Responses API serves it", lenient
        )


# Tools that group function tools (Codex's ``namespace``): their functions, flattened.
GROUPS = frozenset({"namespace"})


def hosted(tool: object) -> bool:
    """A tool built into OpenAI's service (``web_search``, ``file_search``...): no other
    upstream runs it, so a translated request goes without it (see ``Untranslatable``)."""
    return isinstance(tool, dict) and tool.get("type") not in ("function", "custom", *GROUPS)


def decode_tools(tools: object) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    out: list[Tool] = []
    for i, tool in enumerate(_flattened(tools)):
        if not isinstance(tool, dict):
            raise ValueError(f"'tools[{i}]' must be an object")
        kind = tool.get("type")
        fn_name, description = tool.get("name"), tool.get("description")
        if kind not in ("function", "custom"):
            raise Untranslatable(f"'tools[{i}].type' {kind!r} is not supported")
        if not isinstance(fn_name, str) or not fn_name:
            raise ValueError(f"'tools[{i}].name' must be a non-empty string")
        if description is not None and not isinstance(description, str):
            raise ValueError(f"'tools[{i}].description' must be a string")
        if kind == "custom":
            fmt = tool.get("format")
            if fmt is not None and not isinstance(fmt, dict):
                raise ValueError(f"'tools[{i}].format' must be an object")
            out.append(Tool(fn_name, description, _CUSTOM_PARAMETERS, True, fmt))
            continue
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise ValueError(f"'tools[{i}].parameters' must be an object")
        out.append(Tool(fn_name, description, parameters))
    return out or None


def _flattened(tools: list[Any]) -> list[Any]:
    """The tools with each group's function tools in its place (a group's own name is
    not kept: its functions' calls come back by their own names)."""
    if not any(isinstance(t, dict) and t.get("type") in GROUPS for t in tools):
        return tools
    out: list[Any] = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") in GROUPS:
            inner = tool.get("tools")
            if not isinstance(inner, list):
                raise ValueError(f"a '{tool.get('type')}' tool must hold a 'tools' array")
            out += inner
        else:
            out.append(tool)
    return out


def decode_tool_choice(choice: object, parallel: object) -> ToolChoice | None:
    if parallel is not None and not isinstance(parallel, bool):
        raise ValueError("'parallel_tool_calls' must be a boolean")
    if choice is None:
        return None if parallel is None else ToolChoice("auto", parallel=parallel)
    if choice in ("auto", "none", "required"):
        return ToolChoice(choice, parallel=parallel)
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        fn_name = choice.get("name")
        if isinstance(fn_name, str) and fn_name:
            return ToolChoice("tool", fn_name, parallel)
    if isinstance(choice, dict) and isinstance(choice.get("type"), str):
        raise Untranslatable(f"'tool_choice.type' {choice['type']!r} is not supported")
    raise ValueError(
        "'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', 'name': ...}"
    )


def decode_reasoning(reasoning: object) -> Thinking | None:
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise ValueError("'reasoning' must be an object")
    effort = reasoning.get("effort")
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    if effort is not None and (not isinstance(effort, str) or effort not in _EFFORTS):
        raise ValueError("'reasoning.effort' must be one of " + ", ".join(map(repr, _EFFORTS)))
    if summary is not None and summary not in _SUMMARIES:
        raise ValueError("'reasoning.summary' must be one of " + ", ".join(map(repr, _SUMMARIES)))
    level = None if effort is None else _EFFORTS[effort]
    if level is None:
        return None
    return Thinking(effort=level, include=summary is not None)


def decode_text(text: object) -> Json | None:
    if text is None:
        return None
    if not isinstance(text, dict):
        raise ValueError("'text' must be an object")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise ValueError("'text.format.type' must be 'text', 'json_object' or 'json_schema'")
    if fmt["type"] == "text":
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if not isinstance(fmt.get("schema"), dict) or not isinstance(fmt.get("name"), str):
        raise ValueError("'text.format' json_schema needs a 'name' and a 'schema' object")
    schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
    return {"type": "json_schema", "json_schema": schema}
