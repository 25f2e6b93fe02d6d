"""JSON carried as text inside the wire formats: tool-call arguments, a function's result.

OpenAI sends tool-call arguments as a JSON string, Anthropic and Gemini as an object, so a
translation encodes or parses them on every tool call. orjson does it, as it does every other
JSON of the relay: one library on the hot path, one behaviour (compact, UTF-8 left as is,
numbers and error cases alike on every path)."""

from __future__ import annotations

from typing import Any

import orjson


def compact_json(value: object) -> str:
    """``value`` as compact JSON text, non-ASCII kept (what ``json.dumps`` gives with
    ``ensure_ascii=False`` and no spaces)."""
    return orjson.dumps(value).decode()


def parse_arguments(arguments: str) -> dict[str, Any]:
    """Tool-call arguments as the object Anthropic and Gemini want; ``{}`` when they are not
    one (empty, not JSON, or another JSON value)."""
    try:
        value = orjson.loads(arguments) if arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_json(text: str) -> object:
    """``text`` as a JSON value, or None when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
