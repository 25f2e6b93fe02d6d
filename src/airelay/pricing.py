"""Prices and costs, exactly, in integer units (see ``airelay.money``).

Token prices are units per 1M tokens and always multiples of 1,000,000 (the catalog refuses
others), so every token has a whole-number price and a cost is an exact sum. A user-group
multiplier is a fraction; the one rounding in the system rounds its product up to a unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from airelay.formats.usage import Usage

PER_MILLION = 1_000_000
DEFAULT_MAX_OUTPUT_TOKENS = 8192


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices in units; token prices are per 1M tokens."""

    input: int = 0
    output: int = 0
    cached_input: int | None = None
    per_request: int = 0
    per_image: int | dict[str, int] | None = None
    per_video_second: int = 0
    per_million_characters: int = 0
    per_audio_minute: int = 0
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS

    @classmethod
    def from_catalog(cls, pricing: dict[str, Any], max_output_tokens: int | None) -> Price:
        return cls(
            input=pricing.get("input", 0),
            output=pricing.get("output", 0),
            cached_input=pricing.get("cached_input"),
            per_request=pricing.get("per_request", 0),
            per_image=pricing.get("per_image"),
            per_video_second=pricing.get("per_video_second", 0),
            per_million_characters=pricing.get("per_million_characters", 0),
            per_audio_minute=pricing.get("per_audio_minute", 0),
            max_output_tokens=max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
        )


def token_cost(usage: Usage, price: Price, multiplier: Fraction | None = None) -> int:
    """The cost of a call's tokens plus its per-request price.

    Uncached input at the input price, cache reads at the cached price (the input price if
    none is set), cache writes at the input price, all output (reasoning included) at the
    output price.
    """
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    uncached = usage.prompt_tokens - cached - written
    cached_price = price.input if price.cached_input is None else price.cached_input
    per_million = (
        (uncached + written) * price.input
        + cached * cached_price
        + usage.completion_tokens * price.output
    )
    cost = -(-per_million // PER_MILLION) + price.per_request
    if multiplier is None or multiplier == 1:
        return cost
    return math.ceil(cost * multiplier)


def worst_case(
    price: Price, prompt_tokens: int, max_output_tokens: int | None, choices: int = 1
) -> int:
    """The most a chat call can cost: all prompt tokens uncached, the output cap reached."""
    output = max_output_tokens if max_output_tokens is not None else price.max_output_tokens
    input_price = max(price.input, price.cached_input or 0)
    per_million = prompt_tokens * input_price + output * max(choices, 1) * price.output
    return -(-per_million // PER_MILLION) + price.per_request
