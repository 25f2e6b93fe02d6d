"""Token usage as each upstream reports it, normalised so that no token counts twice.

``prompt_tokens`` is every input token, cached or not; ``cached_tokens`` and
``cache_write_tokens`` are parts of it, ``cache_write_1h_tokens`` (writes kept an hour,
priced higher than the 5-minute ones) a part of ``cache_write_tokens``.
``completion_tokens`` is every output token; ``reasoning_tokens`` is a part of it.
``images`` counts the images an image call delivered.
``characters`` (text read aloud) and ``audio_seconds`` (audio heard, whole seconds rounded
up) are what the audio endpoints bill instead of tokens.
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
    images: int = 0  # images made (priced per image when the model has a per-image price)
    characters: int = 0
    audio_seconds: int = 0

    @property
    def counted(self) -> bool:
        """Whether anything billable was counted (some upstreams report only zeros)."""
        return bool(
            self.prompt_tokens
            or self.completion_tokens
            or self.images
            or self.characters
            or self.audio_seconds
        )


def _int(value: object) -> int:
    if type(value) is int:  # the usual count, read without the checks below
        return value if value > 0 else 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def from_openai(usage: object) -> Usage | None:
    """OpenAI ``usage``: ``prompt_tokens`` includes ``prompt_tokens_details.cached_tokens``
    (the cache reads; OpenAI bills no cache writes). DeepSeek's shape says the same with
    ``prompt_cache_hit_tokens`` + ``prompt_cache_miss_tokens`` = ``prompt_tokens``; when
    ``prompt_tokens`` is missing, the hits and misses are the prompt.
    ``prompt_tokens_details.cache_write_tokens`` (as OpenRouter-style relays and this
    gateway report writes) is read too."""
    if not isinstance(usage, dict):
        return None
    prompt_details = _dict(usage.get("prompt_tokens_details"))
    completion_details = _dict(usage.get("completion_tokens_details"))
    hits = _int(usage.get("prompt_cache_hit_tokens"))
    cached = _int(prompt_details.get("cached_tokens")) or hits
    prompt = _int(usage.get("prompt_tokens")) or hits + _int(usage.get("prompt_cache_miss_tokens"))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=_int(usage.get("completion_tokens")),
        cached_tokens=cached,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
        cache_write_tokens=_int(prompt_details.get("cache_write_tokens")),
    )


def from_anthropic(usage: object) -> Usage | None:
    """Anthropic ``usage``: ``input_tokens`` excludes the cache reads and writes.

    ``cache_creation_input_tokens`` is every write; ``cache_creation`` splits it by how long
    the entry lives (``ephemeral_5m_input_tokens``, ``ephemeral_1h_input_tokens``), and the
    hour-long ones cost more. Without the split every write is a 5-minute one (the default
    TTL)."""
    if not isinstance(usage, dict):
        return None
    read = _int(usage.get("cache_read_input_tokens"))
    write = _int(usage.get("cache_creation_input_tokens"))
    split = _dict(usage.get("cache_creation"))
    hour = _int(split.get("ephemeral_1h_input_tokens"))
    write = max(write, _int(split.get("ephemeral_5m_input_tokens")) + hour)
    return Usage(
        prompt_tokens=_int(usage.get("input_tokens")) + read + write,
        completion_tokens=_int(usage.get("output_tokens")),
        cached_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=hour,
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
