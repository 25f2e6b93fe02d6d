"""Gemini API (generativelanguage v1beta, camelCase JSON) <-> the chat IR: requests,
responses, countTokens and error bodies. Streams live in ``gemini_stream``.

Choices the other codecs and the relay rely on:
- keys are read in camelCase or snake_case (the google-genai SDK sends a mix of both);
- Gemini calls carry no id: a request's calls are numbered ``call_<n>`` across the
  conversation, a response's ``call_<responseId>_<n>`` within each candidate (unique across
  turns). A ``functionResponse`` answers the earliest unanswered call of its name (or its
  ``id``). Encoding leaves out exactly the ids decoding would make up again;
- a ``thoughtSignature`` on a part that is not a thought decodes to ``Reasoning("", sig)``
  right before that part, and encoding puts a signature on the part after its Reasoning
  (Gemini 3 checks the signature of a function call), so consecutive reasoning merges as
  the ``Assembler`` merges it. A model turn whose first call has no signature (history from
  another format) gets Google's documented placeholder, which decoding drops again;
- a tool result's ``response`` is its text parsed as a JSON object, else
  ``{"result": text}`` (``{"error": text}`` for errors); decoding gives that text back, and
  the compact JSON of any other response;
- tool schemas travel as ``parametersJsonSchema`` (the IR holds JSON Schema); a decoded
  ``parameters`` (Google's OpenAPI subset) gets lower-case types and ``nullable`` folded in.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Final, Literal

from airelay.formats.codec import Codec, module_codec
from airelay.formats.gemini_stream import (
    PLACEHOLDER_SIGNATURE,
    GeminiStreamDecoder,
    GeminiStreamEncoder,
    JsonArrayEncoder,
    append_part,
    compact_json,
    decode_finish,
    decode_part,
    encode_finish,
    encode_parts,
    encode_usage,
    error_body,
    field,
    response_call_id,
)
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Image,
    Message,
    Part,
    Role,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from airelay.formats.thinking import GEMINI_LEVELS, gemini_budget
from airelay.formats.usage import from_gemini

__all__ = [
    "CODEC",
    "decode_count_tokens_request",
    "decode_request",
    "decode_response",
    "encode_count_tokens_response",
    "encode_request",
    "encode_response",
    "error_body",
    "stream_decoder",
    "stream_encoder",
]

Json = dict[str, Any]
NAME: Final = "gemini"
PLACEHOLDER_TURN: Final = "."  # the user turn sent when the IR has none
Effort = Literal["low", "medium", "high"]
Mode = Literal["auto", "none", "required", "tool"]
_MODES_IN: Final[dict[str, Mode]] = {
    "AUTO": "auto",
    "VALIDATED": "auto",
    "ANY": "required",
    "NONE": "none",
}
_MODES_OUT: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


def _string(value: object) -> str:
    return value if isinstance(value, str) else ""


# ---- requests: decode -----------------------------------------------------------------------


def decode_request(body: Any, *, model: str | None = None, stream: bool = False) -> ChatRequest:
    """A ``generateContent`` body; ``model`` and ``stream`` come from the URL."""
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    name = model or body.get("model")
    if not isinstance(name, str) or not name:
        raise ValueError("the model is required (models/{model}:generateContent)")
    contents = body.get("contents")
    if isinstance(contents, dict):  # older documentation sends a single Content
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise ValueError("'contents' is required and must be a non-empty array")
    messages = _decode_system(field(body, "systemInstruction")) + _decode_contents(contents)
    request = ChatRequest(model=name.removeprefix("models/"), messages=messages, stream=stream)
    request.include_usage = stream  # Gemini streams always report usage
    _decode_config(field(body, "generationConfig"), request)
    request.tools = _decode_tools(body.get("tools"))
    request.tool_choice = _decode_tool_config(field(body, "toolConfig"))
    return request


def _decode_system(system: object) -> list[Message]:
    if system is None:
        return []
    if isinstance(system, str):
        return [Message("system", [Text(system)])] if system else []
    parts = system.get("parts") if isinstance(system, dict) else None
    if isinstance(parts, dict):
        parts = [parts]
    if not isinstance(parts, list):
        raise ValueError("'systemInstruction' must be a Content object with 'parts'")
    texts: list[Part] = [
        Text(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
    ]
    return [Message("system", texts)] if texts else []


def _decode_contents(contents: list[Any]) -> list[Message]:
    messages: list[Message] = []
    calls: list[list[Any]] = []  # [id, name, answered] in conversation order

    def call_id(given: object) -> str:
        call_id = given if isinstance(given, str) and given else f"call_{len(calls)}"
        calls.append([call_id, None, False])
        return call_id

    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise ValueError(f"'{where}' must be an object")
        role = content.get("role") or "user"
        if role not in ("user", "model", "function"):  # "function": older documentation
            raise ValueError(f"'{where}.role' must be 'user' or 'model', not {role!r}")
        ir_role: Role = "assistant" if role == "model" else "user"
        parts = content.get("parts")
        if isinstance(parts, dict):
            parts = [parts]
        if not isinstance(parts, list):
            raise ValueError(f"'{where}.parts' must be an array")
        current: list[Part] = []
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                raise ValueError(f"'{where}.parts[{j}]' must be an object")
            response = field(part, "functionResponse")
            if isinstance(response, dict):
                if current:
                    messages.append(Message(ir_role, current))
                    current = []
                result = _decode_result(response, calls, f"{where}.parts[{j}]")
                messages.append(Message("tool", [result]))
                continue
            for decoded in decode_part(part, call_id):
                if isinstance(decoded, ToolCall):
                    calls[-1][1] = decoded.name
                append_part(current, decoded, merge_text=False)
        if current:
            messages.append(Message(ir_role, current))
    return messages


def _decode_result(response: Json, calls: list[list[Any]], where: str) -> ToolResult:
    name = response.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"'{where}.functionResponse.name' must be a non-empty string")
    given = response.get("id")
    match = next((c for c in calls if isinstance(given, str) and c[0] == given), None)
    if match is None and not (isinstance(given, str) and given):
        open_calls = [c for c in calls if c[1] == name and not c[2]]
        named = [c for c in calls if c[1] == name]
        match = open_calls[0] if open_calls else named[-1] if named else None
    if match is not None:
        match[2] = True
    call_id = match[0] if match is not None else given if isinstance(given, str) else name
    payload = response.get("response")
    content: list[Text | Image] = [Text(_result_text(payload))]
    extra = response.get("parts")
    for part in extra if isinstance(extra, list) else ():
        if isinstance(part, dict):
            content += [p for p in decode_part(part, str) if isinstance(p, Image)]
    is_error = isinstance(payload, dict) and list(payload) == ["error"]
    return ToolResult(call_id=call_id, content=content, name=name, is_error=is_error)


def _result_text(payload: object) -> str:
    """A ``{"result": "text"}`` or ``{"error": "text"}`` response is that text (the shape
    ``encode_request`` gives plain-text results); anything else is its compact JSON."""
    if isinstance(payload, dict) and len(payload) == 1:
        ((key, value),) = payload.items()
        if key in ("result", "error") and isinstance(value, str):
            return value
    return compact_json(payload if payload is not None else {})


def _decode_config(config: object, request: ChatRequest) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise ValueError("'generationConfig' must be an object")
    request.temperature = _number(config, "temperature")
    request.top_p = _number(config, "topP")
    top_k = _number(config, "topK")
    request.top_k = int(top_k) if top_k is not None else None
    request.max_tokens = _integer(config, "maxOutputTokens")
    request.n = _integer(config, "candidateCount")
    request.seed = _integer(config, "seed")
    stop = field(config, "stopSequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise ValueError("'generationConfig.stopSequences' must be an array of strings")
        request.stop = stop or None
    if field(config, "responseMimeType") == "application/json":
        schema = field(config, "responseJsonSchema")
        if schema is None and isinstance(field(config, "responseSchema"), dict):
            schema = json_schema(field(config, "responseSchema"))
        request.response_format = (
            {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
            if isinstance(schema, dict)
            else {"type": "json_object"}
        )
    thinking = field(config, "thinkingConfig")
    if isinstance(thinking, dict):
        budget = _integer(thinking, "thinkingBudget", minimum=-1)
        level = field(thinking, "thinkingLevel")
        request.thinking = Thinking(
            budget_tokens=budget if budget is not None and budget >= 0 else None,
            effort=GEMINI_LEVELS.get(level.lower()) if isinstance(level, str) else None,
            include=field(thinking, "includeThoughts") is True,
        )


def _number(obj: Json, key: str) -> float | None:
    value = field(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'generationConfig.{key}' must be a number")
    return value


def _integer(obj: Json, key: str, minimum: int = 0) -> int | None:
    value = field(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"'{key}' must be an integer of at least {minimum}")
    return value


def json_schema(schema: Any) -> Any:
    """Google's OpenAPI-subset ``Schema`` as JSON Schema: lower-case types, camelCase
    keywords, ``nullable`` folded into the type."""
    if isinstance(schema, list):
        return [json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Json = {}
    for key, value in schema.items():
        key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        if key == "type" and isinstance(value, str):
            value = value.lower()
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            value = {name: json_schema(s) for name, s in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "additionalProperties"):
            value = json_schema(value)
        out[key] = value
    if out.pop("nullable", None) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _decode_tools(tools: object) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise ValueError("'tools' must be an array")
    out: list[Tool] = []
    for i, tool in enumerate(tools):
        declarations = field(tool, "functionDeclarations") if isinstance(tool, dict) else None
        for j, fn in enumerate(declarations if isinstance(declarations, list) else ()):
            name = fn.get("name") if isinstance(fn, dict) else None
            if not isinstance(name, str) or not name:
                raise ValueError(f"'tools[{i}].functionDeclarations[{j}].name' is required")
            schema = field(fn, "parametersJsonSchema")
            if not isinstance(schema, dict):
                params = fn.get("parameters")
                schema = json_schema(params) if isinstance(params, dict) else None
            description = fn.get("description")
            out.append(
                Tool(
                    name=name,
                    description=description if isinstance(description, str) else None,
                    parameters=schema or {"type": "object", "properties": {}},
                )
            )
    return out or None


def _decode_tool_config(config: object) -> ToolChoice | None:
    calling = field(config, "functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(calling, dict):
        return None
    mode = _MODES_IN.get(_string(calling.get("mode")).upper())
    allowed = field(calling, "allowedFunctionNames")
    if mode == "required" and isinstance(allowed, list) and len(allowed) == 1:
        return ToolChoice("tool", name=str(allowed[0]))
    return ToolChoice(mode) if mode is not None else None


# ---- requests: encode -----------------------------------------------------------------------


def encode_request(request: ChatRequest) -> Json:
    calls = [p for m in request.messages for p in m.parts if isinstance(p, ToolCall)]
    names = {call.id: call.name for call in calls}
    # ids decoding would synthesise again are left out; the others travel (Gemini echoes them)
    implied = {call.id for n, call in enumerate(calls) if call.id == f"call_{n}"}
    kept = frozenset(names) - implied

    def call_ids(call: ToolCall) -> str | None:
        return call.id if call.id in kept else None

    system: list[Json] = []
    contents: list[Json] = []
    for message in request.messages:
        if message.role == "system":
            system += [{"text": p.text} for p in message.parts if isinstance(p, Text) and p.text]
            continue
        role = "model" if message.role == "assistant" else "user"
        parts = encode_parts(
            message.parts, history=True, call_ids=call_ids, names=names, result_ids=kept
        )
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": role, "parts": parts})
    for content in contents:
        first = next((p for p in content["parts"] if "functionCall" in p), None)
        if content["role"] == "model" and first is not None and "thoughtSignature" not in first:
            first["thoughtSignature"] = PLACEHOLDER_SIGNATURE
    if not contents:  # Gemini refuses a request without contents (OpenAI allows system only)
        contents.append({"role": "user", "parts": [{"text": PLACEHOLDER_TURN}]})
    body: Json = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _encode_config(request)
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_encode_tool(t) for t in request.tools]}]
    if request.tool_choice is not None:
        calling: Json = {"mode": _MODES_OUT[request.tool_choice.mode]}
        if request.tool_choice.mode == "tool" and request.tool_choice.name:
            calling["allowedFunctionNames"] = [request.tool_choice.name]
        body["toolConfig"] = {"functionCallingConfig": calling}
    return body


def _encode_config(request: ChatRequest) -> Json:
    config: Json = {}
    for key, value in (
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
        ("maxOutputTokens", request.max_tokens),
        ("stopSequences", request.stop or None),
        ("candidateCount", request.n),
        ("seed", request.seed),
    ):
        if value is not None:
            config[key] = value
    fmt = request.response_format or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            config["responseJsonSchema"] = schema
    thinking = request.thinking
    if thinking is not None:
        budget = thinking.budget_tokens
        if budget is None and thinking.effort is not None:
            budget = gemini_budget(thinking.effort)
        config["thinkingConfig"] = {"thinkingBudget": budget} if budget is not None else {}
        if thinking.include:
            config["thinkingConfig"]["includeThoughts"] = True
    return config


def _encode_tool(tool: Tool) -> Json:
    out: Json = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    if tool.parameters not in ({}, {"type": "object", "properties": {}}):
        out["parametersJsonSchema"] = tool.parameters
    return out


# ---- responses ------------------------------------------------------------------------------


def decode_response(body: Any) -> ChatResponse:
    if not isinstance(body, dict):
        raise ValueError("response body must be a JSON object")
    error = body.get("error")
    if isinstance(error, dict):
        raise ValueError(f"upstream error: {error.get('message') or compact_json(error)}")
    response_id = _string(field(body, "responseId"))
    choices: list[Choice] = []
    candidates = body.get("candidates")
    for position, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
        if isinstance(candidate, dict):
            choices.append(decode_candidate(candidate, position, response_id))
    feedback = field(body, "promptFeedback")
    if not choices and isinstance(feedback, dict) and field(feedback, "blockReason"):
        choices.append(Choice(0, Message("assistant", []), "content_filter"))
    choices.sort(key=lambda c: c.index)
    return ChatResponse(
        id=response_id,
        model=_string(field(body, "modelVersion")),
        created=0,
        choices=choices,
        usage=from_gemini(field(body, "usageMetadata")),
    )


def decode_candidate(candidate: Json, position: int, response_id: str) -> Choice:
    index = candidate.get("index")
    index = index if isinstance(index, int) and not isinstance(index, bool) else position
    content = candidate.get("content")
    raw = content.get("parts") if isinstance(content, dict) else None
    parts: list[Part] = []
    numbers = iter(range(1 << 30))

    def call_id(given: object) -> str:
        number = next(numbers)
        return given if isinstance(given, str) and given else response_call_id(response_id, number)

    for part in raw if isinstance(raw, list) else ():
        if isinstance(part, dict):
            for decoded in decode_part(part, call_id):
                append_part(parts, decoded, merge_text=True)
    has_calls = any(isinstance(p, ToolCall) for p in parts)
    reason = decode_finish(field(candidate, "finishReason"), has_calls)
    return Choice(index, Message("assistant", parts), reason)


def encode_response(response: ChatResponse) -> Json:
    candidates: list[Json] = []
    for choice in response.choices:
        calls = [p for p in choice.message.parts if isinstance(p, ToolCall)]
        implied = {c.id for n, c in enumerate(calls) if c.id == response_call_id(response.id, n)}

        def call_ids(call: ToolCall, implied: set[str] = implied) -> str | None:
            return None if call.id in implied else call.id

        parts = encode_parts(choice.message.parts, history=False, call_ids=call_ids)
        content: Json = {"parts": parts, "role": "model"} if parts else {"role": "model"}
        candidate: Json = {"content": content}
        if choice.finish_reason is not None:
            candidate["finishReason"] = encode_finish(choice.finish_reason)
        candidate["index"] = choice.index
        candidates.append(candidate)
    body: Json = {"candidates": candidates}
    if response.usage is not None:
        body["usageMetadata"] = encode_usage(response.usage)
    if response.model:
        body["modelVersion"] = response.model
    if response.id:
        body["responseId"] = response.id
    return body


# ---- countTokens and errors -----------------------------------------------------------------


def decode_count_tokens_request(body: Any, *, model: str) -> ChatRequest:
    """A ``countTokens`` body: ``contents`` or a whole ``generateContentRequest``."""
    if not isinstance(body, dict):
        raise ValueError("request body must be a JSON object")
    inner = field(body, "generateContentRequest")
    return decode_request(inner if isinstance(inner, dict) else body, model=model)


def encode_count_tokens_response(total_tokens: int, cached_tokens: int = 0) -> Json:
    out: Json = {"totalTokens": total_tokens}
    if cached_tokens:
        out["cachedContentTokenCount"] = cached_tokens
    return out


# ---- the codec object -----------------------------------------------------------------------


def stream_decoder() -> GeminiStreamDecoder:
    return GeminiStreamDecoder()


def stream_encoder(request: ChatRequest, *, json_array: bool = False) -> GeminiStreamEncoder:
    """SSE events (``alt=sse``), or with ``json_array`` the elements of a JSON array."""
    return JsonArrayEncoder(request) if json_array else GeminiStreamEncoder(request)


CODEC: Codec = module_codec(NAME, sys.modules[__name__])
