"""Token usage as each upstream reports it, normalised so that no token counts twice.

``prompt_tokens`` is every input token, cached or not; ``cached_tokens`` and
``cache_write_tokens`` are parts of it, ``cache_write_1h_tokens`` (writes kept an hour,
priced higher than the 5-minute ones) a part of ``cache_write_tokens``.
``completion_tokens`` is every output token; ``reasoning_tokens`` is a part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def from_openai(usage: object) -> Usage | None:
    """OpenAI ``usage`` (also DeepSeek's ``prompt_cache_hit_tokens``)."""
    if not isinstance(usage, dict):
        return None
    prompt_details = _dict(usage.get("prompt_tokens_details"))
    completion_details = _dict(usage.get("completion_tokens_details"))
    cached = _int(prompt_details.get("cached_tokens")) or _int(usage.get("prompt_cache_hit_tokens"))
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=cached,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
    )


def from_anthropic(usage: object) -> Usage | None:
    """Anthropic ``usage``: ``input_tokens`` excludes the cache reads and writes."""
    if not isinstance(usage, dict):
        return None
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    return Usage(
        prompt_tokens=_int(usage.get("input_tokens")) + read + write,
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=read,
        cache_write_tokens=write,
    )


def from_gemini(metadata: object) -> Usage | None:
    """Gemini ``usageMetadata``: the prompt count includes cached content; thoughts are
    billed as output but not counted in ``candidatesTokenCount``."""
    if not isinstance(metadata, dict):
        return None
    thoughts = _int(metadata.get("thoughtsTokenCount"))
    return Usage(
        prompt_tokens=_int(metadata.get("promptTokenCount"))
        + _int(metadata.get("toolUsePromptTokenCount")),
        completion_tokens=_int(metadata.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_int(metadata.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )
