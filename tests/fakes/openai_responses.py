"""Deterministic OpenAI Responses payloads for the fake upstream (pure functions), written
from the API reference independently of the gateway's codec.

The answer follows the chat fake's rules (``openai_payloads.build_answer``) on the request
read as chat: ``"Hello! You said: <last user text>"``, ``"Tool said: <output>"`` after a
``function_call_output``, one ``function_call`` per function tool (at most 2) with
``TOOL_ARGUMENTS``. Models whose name contains ``reasoner`` first give a ``reasoning`` item
(summary ``REASONING_TEXT``, ``encrypted_content`` ``ENCRYPTED``). A request with a
``prompt_cache_key`` reports half its input tokens (rounded down) as cached.
``max_output_tokens`` below the answer's words cuts it: status ``incomplete``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from .openai_payloads import REASONING_TEXT, TOOL_ARGUMENTS, Answer, build_answer

Json = dict[str, Any]
ENCRYPTED = "gAAAA-fake-encrypted-reasoning"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return ""


def as_chat(body: Json) -> Json:
    """The Responses request read as a chat request (for ``build_answer``)."""
    messages: list[Json] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        messages.append({"role": "user", "content": items})
    for item in items if isinstance(items, list) else []:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item.get("role") == "developer" else item.get("role")
            messages.append({"role": role, "content": _text(item.get("content"))})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            messages.append({"role": "tool", "content": _text(item.get("output"))})
    tools = [
        {"type": "function", "function": {"name": t.get("name")}}
        for t in body.get("tools") or []
        if t.get("type") == "function"
    ]
    chat: Json = {"model": body.get("model"), "messages": messages}
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif choice is not None:
            chat["tool_choice"] = choice
    if isinstance(body.get("max_output_tokens"), int):
        chat["max_tokens"] = body["max_output_tokens"]
    return chat


def usage(body: Json, answer: Answer) -> Json:
    cached = answer.prompt_tokens // 2 if body.get("prompt_cache_key") else 0
    return {
        "input_tokens": answer.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": answer.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def output_items(answer: Answer, base: str) -> list[Json]:
    items: list[Json] = []
    if answer.reasoning:
        items.append(
            {
                "id": f"rs_{base}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": answer.reasoning}],
                "encrypted_content": ENCRYPTED,
            }
        )
    if answer.content is not None:
        text = {"type": "output_text", "annotations": [], "logprobs": [], "text": answer.content}
        status = "incomplete" if answer.finish_reason == "length" else "completed"
        items.append(
            {
                "id": f"msg_{base}",
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [text],
            }
        )
    for k, name in enumerate(answer.tool_names):
        items.append(
            {
                "id": f"fc_{base}_{k}",
                "type": "function_call",
                "status": "completed",
                "arguments": TOOL_ARGUMENTS,
                "call_id": f"call_{base}_{k}",
                "name": name,
            }
        )
    return items


def response(body: Json, answer: Answer, status: str, output: list[Json], base: str) -> Json:
    return {
        "id": f"resp_{base}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": ({"reason": "max_output_tokens"} if status == "incomplete" else None),
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body.get("model"),
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": bool(body.get("store", True)),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None if status == "in_progress" else usage(body, answer),
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def answer_for(body: Json) -> tuple[Answer, str, str]:
    answer = build_answer(as_chat(body))
    status = "incomplete" if answer.finish_reason == "length" else "completed"
    return answer, status, secrets.token_hex(8)


#: The opaque content of the fake's own compaction items (the gateway cannot read it).
UPSTREAM_COMPACTION = "fake-upstream-compaction-"


def triggered(body: Json) -> bool:
    """A request whose last input item is a ``compaction_trigger``."""
    items = body.get("input")
    return isinstance(items, list) and bool(items) and items[-1].get("type") == "compaction_trigger"


def compaction_item(base: str) -> Json:
    return {
        "id": f"cmp_{base}",
        "type": "compaction",
        "encrypted_content": UPSTREAM_COMPACTION + base,
    }


def _items(body: Json, answer: Answer, base: str) -> list[Json]:
    return [compaction_item(base)] if triggered(body) else output_items(answer, base)


def whole(body: Json) -> Json:
    answer, status, base = answer_for(body)
    return response(body, answer, status, _items(body, answer, base), base)


def _parts(content: Any) -> Any:
    return [{"type": "input_text", "text": content}] if isinstance(content, str) else content


def compacted(body: Json) -> Json:
    """``POST /v1/responses/compact``: the user messages, then one compaction item."""
    items = body.get("input")
    items = (
        [{"type": "message", "role": "user", "content": items}]
        if isinstance(items, str)
        else items or []
    )
    users = [
        {"type": "message", "role": "user", "content": _parts(i.get("content"))}
        for i in items
        if i.get("type", "message") == "message" and i.get("role") == "user"
    ]
    base = secrets.token_hex(8)
    prompt = max(1, len(str(items).split()))
    return {
        "id": f"resp_{base}",
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [*users, compaction_item(base)],
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 7,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + 7,
        },
    }


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def events(body: Json) -> list[tuple[str, Json]]:
    """Every event of the stream, in OpenAI's order, as (name, data)."""
    answer, status, base = answer_for(body)
    items = _items(body, answer, base)
    out: list[tuple[str, Json]] = []

    def emit(kind: str, **values: Any) -> None:
        out.append((kind, {"type": kind, "sequence_number": len(out), **values}))

    start = response(body, answer, "in_progress", [], base)
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(items):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            part = {"type": "summary_text", "text": ""}
            emit("response.reasoning_summary_part.added", **where, summary_index=0, part=part)
            for piece in _pieces(REASONING_TEXT):
                emit("response.reasoning_summary_text.delta", **where, summary_index=0, delta=piece)
            done = {"summary_index": 0, "text": REASONING_TEXT}
            emit("response.reasoning_summary_text.done", **where, **done)
            part = {"type": "summary_text", "text": REASONING_TEXT}
            emit("response.reasoning_summary_part.done", **where, summary_index=0, part=part)
        elif item["type"] == "message":
            added = {**item, "status": "in_progress", "content": []}
            emit("response.output_item.added", output_index=index, item=added)
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit("response.content_part.added", **where, content_index=0, part=part)
            text = item["content"][0]["text"]
            for piece in _pieces(text):
                delta = {"content_index": 0, "delta": piece, "logprobs": []}
                emit("response.output_text.delta", **where, **delta)
            emit("response.output_text.done", **where, content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", **where, content_index=0, part=item["content"][0])
        elif item["type"] == "compaction":
            emit("response.output_item.added", output_index=index, item=item)
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
            emit("response.output_item.added", output_index=index, item=added)
            for piece in (TOOL_ARGUMENTS[:10], TOOL_ARGUMENTS[10:]):
                emit("response.function_call_arguments.delta", **where, delta=piece)
            emit(
                "response.function_call_arguments.done",
                **where,
                name=item["name"],
                arguments=TOOL_ARGUMENTS,
            )
        emit("response.output_item.done", output_index=index, item=item)
    final = response(body, answer, status, items, base)
    emit("response.completed" if status == "completed" else "response.incomplete", response=final)
    return out
