"""Prices and costs, exactly, in integer units (see ``airelay.money``).

Token prices are units per 1M tokens and always multiples of 1,000,000 (the catalog refuses
others), so every token has a whole-number price and a cost is an exact sum. A user-group
multiplier is a fraction; the one rounding in the system rounds its product up to a unit.

Cache writes have prices of their own: ``cache_write_5m`` and ``cache_write_1h``. When the
catalog sets none they default to Anthropic's documented premiums over the input price:
x 1.25 for a write kept five minutes, x 2 for one kept an hour. The doubled price is again a
multiple of 1,000,000. The 5-minute one is an integer (an input price is a multiple of
1,000,000, so of 4) but a multiple of 1,000,000 only when the input price, in USD, is a
multiple of $0.0004 per 1M: a $0.075 input price makes writes cost 937.5 units a token.
``token_cost`` therefore sums every part per 1M tokens exactly and rounds once, up to a
unit, after the group multiplier: the call's one rounding, less than one unit.

Audio is priced by what it is: text read aloud per 1M ``characters``
(``per_million_characters``, a per-1M price like the token ones), audio heard per minute
(``per_audio_minute``, billed by the whole second: ``audio_seconds``). A second is a sixtieth
of the minute price, so the parts are summed per 60M (sixty times per 1M), still exact, and
rounded once.

What a call costs the operator upstream is its price at the model's list price (no group
multiplier) times its channel's ``cost_multiplier``, an exact decimal: ``upstream_cost``,
rounded up to a unit once like a charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from airelay.formats.usage import Usage

PER_MILLION = 1_000_000
SECONDS_PER_MINUTE = 60
# The sum's denominator: a token or a character is priced per 1M, an audio second per 60.
_SCALE = SECONDS_PER_MINUTE * PER_MILLION
DEFAULT_MAX_OUTPUT_TOKENS = 8192


@dataclass(frozen=True, slots=True)
class Price:
    """A model's prices in units; token prices are per 1M tokens."""

    input: int = 0
    output: int = 0
    cached_input: int | None = None
    cache_write_5m: int | None = None  # None: input x 1.25
    cache_write_1h: int | None = None  # None: input x 2
    per_request: int = 0
    per_image: int | dict[str, int] | None = None
    per_video_second: int | dict[str, int] = 0  # one price, or by resolution / size
    per_million_characters: int = 0
    per_audio_minute: int = 0
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS

    @classmethod
    def from_catalog(cls, pricing: dict[str, Any], max_output_tokens: int | None) -> Price:
        return cls(
            input=pricing.get("input", 0),
            output=pricing.get("output", 0),
            cached_input=pricing.get("cached_input"),
            cache_write_5m=pricing.get("cache_write_5m"),
            cache_write_1h=pricing.get("cache_write_1h"),
            per_request=pricing.get("per_request", 0),
            per_image=pricing.get("per_image"),
            per_video_second=pricing.get("per_video_second", 0),
            per_million_characters=pricing.get("per_million_characters", 0),
            per_audio_minute=pricing.get("per_audio_minute", 0),
            max_output_tokens=max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
        )

    # Derived once (``__post_init__``), read on every call's pricing:
    #: a 5-minute cache write, per 1M tokens: the catalog's, or input x 1.25 (exact: input
    #: is a multiple of 4);
    write_5m: int = field(init=False, repr=False, compare=False)
    #: a 1-hour cache write, per 1M tokens: the catalog's, or input x 2;
    write_1h: int = field(init=False, repr=False, compare=False)
    #: a cache read, per 1M tokens: ``cached_input``, or the input price.
    read: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        write_5m = self.cache_write_5m
        write_1h = self.cache_write_1h
        cached = self.cached_input
        object.__setattr__(self, "write_5m", self.input * 5 // 4 if write_5m is None else write_5m)
        object.__setattr__(self, "write_1h", self.input * 2 if write_1h is None else write_1h)
        object.__setattr__(self, "read", self.input if cached is None else cached)


def image_price(price: Price, size: str | None, quality: str | None) -> int | None:
    """The price of one image of ``size`` and ``quality``, or None when the model has no
    per-image price (its images are priced by the tokens the upstream reports).

    ``per_image`` is one price for every image, or a table tried from the most to the least
    precise key: ``"SIZE/QUALITY"``, ``"SIZE"``, then ``"default"`` (a call that names no
    size is size ``auto``). Raises ``LookupError`` (a 400 for the caller) when the table
    prices none of them: an image is never billed at a price nobody set."""
    table = price.per_image
    if table is None or isinstance(table, int):
        return table
    size = size or "auto"
    keys = ([f"{size}/{quality}"] if quality else []) + [size, "default"]
    for key in keys:
        found = table.get(key)
        if found is not None:
            return found
    priced = ", ".join(sorted(table))
    raise LookupError(
        f"no price is set for images of size '{size}'"
        + (f" and quality '{quality}'" if quality else "")
        + f" (priced: {priced})"
    )


def token_cost(
    usage: Usage, price: Price, multiplier: Fraction | None = None, image_price: int = 0
) -> int:
    """The cost of a call's tokens plus its per-request price, plus its images at
    ``image_price`` each.

    Uncached input at the input price, cache reads at the cached price (the input price if
    none is set), 5-minute and 1-hour cache writes at their write prices, all output
    (reasoning included) at the output price. The parts are summed per 1M tokens, times the
    group multiplier, and rounded up to a unit once.
    """
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
    hour = min(usage.cache_write_1h_tokens, written)
    uncached = usage.prompt_tokens - cached - written
    per_million = (
        uncached * price.input
        + cached * price.read
        + (written - hour) * price.write_5m
        + hour * price.write_1h
        + usage.completion_tokens * price.output
        + usage.characters * price.per_million_characters
        + price.per_request * PER_MILLION
        + usage.images * image_price * PER_MILLION
    )
    scaled = per_million * SECONDS_PER_MINUTE + _audio(usage, price)
    if multiplier is None or multiplier == 1:
        return -(-scaled // _SCALE)
    # One rounding: ceil(scaled x n / (60M x d)), in integers.
    return -(-scaled * multiplier.numerator // (_SCALE * multiplier.denominator))


def _audio(usage: Usage, price: Price) -> int:
    """The audio seconds' cost, per 60M: seconds x the price of a minute x 1M."""
    return usage.audio_seconds * price.per_audio_minute * PER_MILLION


def known_cost(usage: Usage | None, price: Price) -> int:
    """The cost of what a call bills that is known from its request (the characters of a
    speech, the seconds of an uploaded file), rounded up: a reservation's part."""
    if usage is None:
        return 0
    scaled = usage.characters * price.per_million_characters * SECONDS_PER_MINUTE + _audio(
        usage, price
    )
    return -(-scaled // _SCALE)


def worst_case(
    price: Price,
    prompt_tokens: int,
    max_output_tokens: int | None,
    choices: int = 1,
    *,
    cache_writes: bool = True,
    images: int = 0,
    image_price: int = 0,
) -> int:
    """The most a call can cost: every prompt token at the dearest input-side price (a
    cache write may cost more than uncached input, where the answer can report writes),
    the output cap reached, and ``images`` images at ``image_price``."""
    output = max_output_tokens if max_output_tokens is not None else price.max_output_tokens
    input_price = max(price.input, price.read)
    if cache_writes:
        input_price = max(input_price, price.write_5m, price.write_1h)
    per_million = prompt_tokens * input_price + output * max(choices, 1) * price.output
    return -(-per_million // PER_MILLION) + price.per_request + images * image_price


# A channel's cost multiplier: 0 (a free upstream) to this, in steps of 1e-10 at the finest.
MAX_COST_MULTIPLIER = 1000
COST_MULTIPLIER_PLACES = 10


def cost_multiplier_text(value: object) -> str:
    """A channel's ``cost_multiplier`` (a JSON number or decimal string) as the exact decimal
    text stored and shown ("0.85"); ValueError, with the reason, for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("'cost_multiplier' must be a number or a decimal string")
    try:
        # A float's shortest text: 0.85 stays "0.85", not its binary approximation.
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise ValueError("'cost_multiplier' must be a number or a decimal string") from None
    if not number.is_finite() or number < 0 or number > MAX_COST_MULTIPLIER:
        raise ValueError(f"'cost_multiplier' must be from 0 to {MAX_COST_MULTIPLIER}")
    if number != round(number, COST_MULTIPLIER_PLACES):
        raise ValueError(
            f"'cost_multiplier' must have at most {COST_MULTIPLIER_PLACES} decimal places"
        )
    text = format(number.normalize(), "f")
    return "0" if number == 0 else text


def cost_fraction(text: str | None) -> Fraction | None:
    """A stored ``cost_multiplier`` as the exact fraction ``upstream_cost`` multiplies by;
    None when the channel's cost is unknown (or the stored text is not a decimal)."""
    if text is None:
        return None
    try:
        return Fraction(text)
    except ValueError:
        return None


def upstream_cost(
    usage: Usage, price: Price, cost_multiplier: Fraction | None, image_price: int = 0
) -> int | None:
    """What a call cost the operator upstream: its price at the model's list price (the
    group multiplier left out: that is what the user pays) times the channel's
    ``cost_multiplier``, summed exactly and rounded up to a unit once (``token_cost``'s one
    rounding). None when the channel's cost is not known."""
    if cost_multiplier is None:
        return None
    if cost_multiplier == 0:
        return 0
    return token_cost(usage, price, cost_multiplier, image_price)
