"""Reading fields of Anthropic JSON bodies, with messages that name where a value is wrong."""

from __future__ import annotations

from typing import Any, TypeGuard

from airelay.formats.json_text import parse_arguments as parse_arguments

Json = dict[str, Any]


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def block_type(block: object, where: str) -> str:
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str):
        raise ValueError(f"'{where}' must be a content block object with a string 'type'")
    return kind


def string(obj: Json, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"'{where}.{key}' must be a string")
    return value


def optional_string(value: object) -> str:
    return value if isinstance(value, str) else ""


def number(body: Json, key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{key}' must be a number")
    return float(value)


def integer(body: Json, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not is_int(value):
        raise ValueError(f"'{key}' must be an integer")
    return int(value)


def strings(body: Json, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"'{key}' must be an array of strings")
    return list(value) or None
