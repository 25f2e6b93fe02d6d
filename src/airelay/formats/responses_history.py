"""Conversation state of the OpenAI Responses API: what a request that names
``previous_response_id`` asks the model to see, and how a stored response's input items are
listed (``GET /v1/responses/{id}/input_items``).

Pure: the stored turns come in as values; reading and writing them is the store's job.

A turn is what one stored response contributes to the next request: its own input items
(as the caller sent them, a string made a user message) and its output items (as the
response answered them). A continued conversation is every earlier turn's inputs and
outputs, oldest first, then the new input: the same list a client would build by hand by
appending ``response.output`` to its input. ``instructions`` are not part of any turn: as
on OpenAI, a previous response's instructions are not carried over, only the new request's
own apply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

Item = dict[str, Any]
Turn = tuple[Sequence[Item], Sequence[Item]]
"""One stored response's (input items, output items)."""

Order = Literal["asc", "desc"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# Roles whose plain-string content is the caller's text (``input_text``); an assistant
# message's text was the model's (``output_text``).
_INPUT_ROLES = frozenset(("user", "system", "developer"))
# Id prefixes of the item types OpenAI lists, for the items a caller sent without an id.
_ID_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
    "compaction": "cmp",
}


def input_items(value: object) -> list[Item]:
    """A request's ``input`` as items: a string is one user message; a list must hold
    objects (ValueError otherwise); no input is no items."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise ValueError("'input' must be a string or an array of input items")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"'input[{index}]' must be an object")
    return list(value)


def output_items(response: object) -> list[Item]:
    """The items a response answered (its ``output``), which a continuation replays."""
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(output, list):
        return []
    return [item for item in output if isinstance(item, dict)]


def expand(previous: Sequence[Turn], new_input: object) -> list[Item]:
    """What the model sees for a request continuing ``previous`` (the chain of stored
    turns, oldest first): each turn's inputs then its outputs, then ``new_input``."""
    items: list[Item] = []
    for inputs, outputs in previous:
        items.extend(inputs)
        items.extend(outputs)
    items.extend(input_items(new_input))
    return items


def item_id(response_id: str, index: int, item: Item) -> str:
    """The id an item is listed under: its own, or one derived from the response and the
    item's place in it, the same on every read (``after`` pages by it)."""
    own = item.get("id")
    if isinstance(own, str) and own:
        return own
    prefix = _ID_PREFIXES.get(_item_type(item), "item")
    digest = hashlib.sha256(f"{response_id}\x00{index}".encode()).hexdigest()[:32]
    return f"{prefix}_{digest}"


def listed_items(response_id: str, items: Sequence[Item]) -> list[Item]:
    """The items as OpenAI lists them: each with an ``id`` and a ``type``, a message's
    string content as one text part."""
    listed = []
    for index, item in enumerate(items):
        kind = _item_type(item)
        entry: Item = {"id": item_id(response_id, index, item), "type": kind, **_rest(item)}
        if kind == "message":
            entry["content"] = _content_parts(item.get("role"), item.get("content"))
        listed.append(entry)
    return listed


def page(items: Sequence[Item], *, after: str | None, limit: int, order: Order) -> dict[str, Any]:
    """One page of listed ``items`` in OpenAI's list shape. ``order`` ``desc`` is newest
    first (OpenAI's default); ``after`` is the id of the item the previous page ended with
    (ValueError when no item has it)."""
    ordered = list(items) if order == "asc" else list(reversed(items))
    start = 0
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise ValueError(f"No input item with id '{after}' in this response.")
        start = ids.index(after) + 1
    data = ordered[start : start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(ordered),
    }


def _item_type(item: Item) -> str:
    kind = item.get("type")
    if isinstance(kind, str) and kind:
        return kind
    # The "easy input message" form: {"role": ..., "content": ...} without a type.
    return "message"


def _rest(item: Item) -> Item:
    return {key: value for key, value in item.items() if key not in ("id", "type")}


def _content_parts(role: object, content: object) -> object:
    if not isinstance(content, str):
        return content
    if role in _INPUT_ROLES:
        return [{"type": "input_text", "text": content}]
    return [{"type": "output_text", "text": content, "annotations": []}]
