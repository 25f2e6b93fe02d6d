"""Reading optional request fields with a clear error: shared by the codecs of the formats
whose bodies name their settings alike (OpenAI chat and Responses)."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

_NAMES = {"str": "a string", "bool": "a boolean", "int": "an integer", "dict": "an object"}


def optional(body: Json, key: str, kind: type[Any]) -> Any:
    """``body[key]`` if it is a ``kind`` (a bool is no int), None if absent or null;
    ValueError naming the key otherwise."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"'{key}' must be {_NAMES.get(kind.__name__, kind.__name__)}")
    return value


def number(body: Json, key: str) -> float | None:
    """``body[key]`` as a float if it is a number (a bool is none), None if absent."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{key}' must be a number")
    return float(value)
