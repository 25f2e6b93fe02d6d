"""OpenAI Responses compaction: ``POST /v1/responses/compact`` and the ``compaction_trigger``
input item (a ``POST /v1/responses`` whose last item asks for a compaction, as Codex CLI
sends it), as the gateway serves them for upstreams that do not.

A Responses upstream compacts by itself (the call passes through as bytes, ``CompactBody``
below). For any other upstream the gateway compacts: the routed model is asked, in an
ordinary call, to summarise the conversation (``summary_request``); the summary goes back
to the client as a ``compaction`` item whose ``encrypted_content`` the gateway sealed
(``security.compaction_seal``), and a later request that carries the item gets the summary in its
place (``expand``), whatever upstream serves it. An item an upstream made is left as it is.

The compacted answer is OpenAI's: ``{id, object: "response.compaction", created_at,
output, usage}``, its ``output`` the conversation's user messages followed by one
``compaction`` item. Pure functions: no I/O, no keys (sealing is passed in).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.passthrough import json_object
from airelay.formats.responses_shapes import decode_usage, encode_usage
from airelay.formats.responses_wire import prompt_text
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

Json = dict[str, Any]

TRIGGER = "compaction_trigger"
ITEM = "compaction"

#: What the routed model is asked to do with the conversation (its instructions).
SUMMARY_INSTRUCTIONS = (
    "You are compacting a conversation so that it can continue in a fresh context window. "
    "Write a handoff summary for the assistant that will continue it: the user's goals and "
    "requests, decisions made, what was done (tool calls and their important results, "
    "exact values, file names, identifiers), constraints and preferences, and what "
    "remains to be done. Be concise and complete; answer with the summary only."
)
#: What the model reads in the summary's place when a compaction item comes back.
SUMMARY_PREFACE = "Summary of the earlier part of this conversation (compacted):\n\n"


def triggered(payload: object) -> bool:
    """Whether a Responses request asks for a compaction (its last input item is a
    ``compaction_trigger``)."""
    if not isinstance(payload, dict):
        return False
    items = payload.get("input")
    return (
        isinstance(items, list)
        and bool(items)
        and isinstance(items[-1], dict)
        and items[-1].get("type") == TRIGGER
    )


def check_compact_request(payload: object) -> str:
    """The model of a valid ``POST /v1/responses/compact`` body; ``ValueError`` (a 400
    message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    items = payload.get("input")
    if items is not None and not isinstance(items, str | list):
        raise ValueError("'input' must be a string or an array of items")
    for key in ("instructions", "previous_response_id", "prompt_cache_key"):
        value = payload.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' must be a string")
    if not items and payload.get("previous_response_id") is None:
        raise ValueError("'input' or 'previous_response_id' is required")
    if payload.get("stream"):
        raise ValueError("'stream' is not supported: a compaction answers whole")
    return model


def items_of(value: object) -> list[Json]:
    """An ``input`` as items (a string is one user message); non-objects are kept out."""
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def history(items: list[Json]) -> list[Json]:
    """The items a compaction summarises: all but the trigger."""
    return [item for item in items if item.get("type") != TRIGGER]


def summary_request(payload: Json, items: list[Json]) -> Json:
    """A whole, unstored Responses request that asks ``payload``'s model to summarise
    ``items`` (and the original instructions): the conversation goes as one transcript in
    one user message, so that any format carries it (tool calls without their tool
    definitions, reasoning another provider signed, built-in tools' items)."""
    return {
        "model": payload["model"],
        "instructions": SUMMARY_INSTRUCTIONS,
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": transcript(payload.get("instructions"), items)}
                ],
            }
        ],
        "store": False,
        "stream": False,
    }


def transcript(instructions: object, items: list[Json]) -> str:
    """The conversation as text, one entry per item."""
    lines = ["<conversation>"]
    if isinstance(instructions, str) and instructions:
        lines.append(f"[instructions]\n{instructions}")
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" or (kind is None and "role" in item):
            lines.append(f"[{item.get('role', 'user')}]\n{_text(item.get('content'))}")
        elif kind in ("function_call", "custom_tool_call"):
            arguments = item.get("arguments", item.get("input", ""))
            if not isinstance(arguments, str):
                arguments = orjson.dumps(arguments).decode()
            lines.append(f"[tool call {item.get('name')} {item.get('call_id')}]\n{arguments}")
        elif kind in ("function_call_output", "custom_tool_call_output"):
            lines.append(f"[tool result {item.get('call_id')}]\n{_text(item.get('output'))}")
        elif kind == "reasoning":
            summary = _text(item.get("summary"))
            if summary:
                lines.append(f"[assistant reasoning]\n{summary}")
        elif kind == ITEM:
            continue  # expanded into a message before this point, or an upstream's own
        else:
            lines.append(f"[{kind}]\n{_text(item)}")
    lines.append("</conversation>")
    return "\n\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("text", "refusal", "content", "output", "summary"):
            if key in value:
                return _text(value[key])
        return ""
    return ""


def summary_of(response: object) -> str:
    """The text a whole Responses answer produced (its output messages)."""
    out: list[str] = []
    output = response.get("output") if isinstance(response, dict) else None
    for item in output if isinstance(output, list) else ():
        if isinstance(item, dict) and item.get("type", "message") == "message":
            text = _text(item.get("content"))
            if text:
                out.append(text)
    return "\n\n".join(out)


def user_messages(items: list[Json]) -> list[Json]:
    """The conversation's user messages, as a compacted answer lists them (content as
    ``input_text`` parts, as the API gives input messages back)."""
    out: list[Json] = []
    for item in items:
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            content = [{"type": "input_text", "text": content}]
        out.append({"type": "message", "role": "user", "content": content})
    return out


def compaction_item(encrypted_content: str) -> Json:
    return {
        "id": "cmp_" + secrets.token_hex(16),
        "type": ITEM,
        "encrypted_content": encrypted_content,
    }


def compacted(output: list[Json], usage: Usage, created_at: int) -> Json:
    """The answer of ``POST /v1/responses/compact``."""
    return {
        "id": "resp_" + secrets.token_hex(24),
        "object": "response.compaction",
        "created_at": created_at,
        "output": output,
        "usage": encode_usage(usage),
    }


def events(response: Json) -> bytes:
    """A complete response object (its output: one ``compaction`` item) as the stream of
    events a Responses client reads: created, in progress, the item added and done,
    completed."""
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    named: list[tuple[str, Json]] = [
        ("response.created", {"response": pending}),
        ("response.in_progress", {"response": pending}),
    ]
    for index, item in enumerate(response.get("output") or []):
        named.append(("response.output_item.added", {"output_index": index, "item": item}))
        named.append(("response.output_item.done", {"output_index": index, "item": item}))
    named.append(("response.completed", {"response": response}))
    return b"".join(
        b"event: %b\ndata: %b\n\n"
        % (kind.encode(), orjson.dumps({"type": kind, "sequence_number": n, **values}))
        for n, (kind, values) in enumerate(named)
    )


Opener = Callable[[str], str | None]


def expand(items: list[Any], open_sealed: Opener) -> list[Any] | None:
    """``items`` with each ``compaction`` item the gateway sealed replaced by a user message
    holding its summary, or None when there is none (the request goes as it came).
    ``open_sealed(encrypted_content)`` gives the summary, None for content that is not the
    gateway's (an upstream's own item, left as it is), and raises ``ValueError`` for one
    that is the gateway's but cannot be opened (tampered, another user's)."""
    changed = False
    out: list[Any] = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == ITEM:
            content = item.get("encrypted_content")
            if not isinstance(content, str):
                raise ValueError(f"'input[{index}].encrypted_content' must be a string")
            summary = open_sealed(content)
            if summary is not None:
                changed = True
                item = {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": SUMMARY_PREFACE + summary}],
                }
        out.append(item)
    return out if changed else None


class CompactBody:
    """``POST /responses/compact`` passed through to a Responses upstream: the model
    renamed, the usage read from the (whole) answer, which names no model."""

    name = WireFormat.RESPONSES_COMPACT
    bytes_per_token = 3  # as the Responses API's
    cache_writes = True

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        return orjson.dumps({**request.payload, "model": upstream_model})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return None, 1  # the request sets no cap on the summary

    def prompt_text(self, request: Request) -> str:
        return prompt_text(request.payload)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        document["usage"] = encode_usage(usage)
        return orjson.dumps(document)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        if not isinstance(document.get("output"), list):
            raise ValueError("the answer has no 'output' list")
        return body, decode_usage(document.get("usage")), document

    def answer_text(self, document: dict[str, Any]) -> str:
        return summary_of(document)  # what shows of it: the compaction item is opaque


BODY: CompactBody = CompactBody()
