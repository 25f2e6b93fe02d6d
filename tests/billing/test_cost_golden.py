"""Golden costs: for each upstream usage shape, the normalised usage and the exact cost,
with no token counted twice."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from airelay.formats import openai_transcription, rerank
from airelay.formats.usage import Usage, from_anthropic, from_gemini, from_openai
from airelay.money import UNITS_PER_USD, usd_to_units
from airelay.pricing import (
    Price,
    cost_fraction,
    cost_multiplier_text,
    token_cost,
    upstream_cost,
    worst_case,
)

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))
DECODERS = {
    "openai": from_openai,
    "anthropic": from_anthropic,
    "gemini": from_gemini,
    "rerank": rerank.usage_of,
    "transcription": openai_transcription.usage_of,
    "known": lambda usage: Usage(**usage),  # what a request bills (speech characters)
}


def price_of(pricing_usd: dict[str, Any]) -> Price:
    return Price.from_catalog({k: usd_to_units(v) for k, v in pricing_usd.items()}, None)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_cost(path: Path) -> None:
    case = json.loads(path.read_text())
    usage = DECODERS[case["format"]](case["usage"])
    assert usage is not None
    assert asdict(usage) == {**asdict(Usage()), **case["normalized"]}
    cost = token_cost(usage, price_of(case["pricing_usd"]))
    assert Decimal(cost) / UNITS_PER_USD == Decimal(case["cost_usd"])


def test_no_usage_shape_is_none() -> None:
    assert from_openai(None) is None and from_anthropic("x") is None and from_gemini(3) is None


def test_cached_tokens_never_exceed_prompt() -> None:
    price = price_of({"input": 1, "cached_input": 0.5, "output": 1})
    inconsistent = Usage(prompt_tokens=10, cached_tokens=50, completion_tokens=0)
    assert token_cost(inconsistent, price) == token_cost(Usage(10, 0, 10), price)


def test_group_multiplier_rounds_up_to_a_unit() -> None:
    price = price_of({"input": 1, "output": 1})
    usage = Usage(prompt_tokens=1, completion_tokens=0)  # $1e-6 = 10,000 units
    assert token_cost(usage, price) == 10_000
    assert token_cost(usage, price, Fraction(2, 3)) == 6_667
    assert token_cost(usage, price, Fraction(1, 2)) == 5_000


def test_worst_case_covers_any_real_cost() -> None:
    price = price_of({"input": 3, "cached_input": 0.3, "output": 15, "per_request": 0.01})
    bound = worst_case(price, prompt_tokens=1000, max_output_tokens=500, choices=2)
    for usage in (
        Usage(1000, 1000),
        Usage(1000, 1000, cached_tokens=900),
        Usage(1000, 1000, cache_write_tokens=1000),
        Usage(1000, 1000, cache_write_tokens=1000, cache_write_1h_tokens=1000),
    ):
        assert token_cost(usage, price) <= bound
    assert (
        worst_case(price, 0, None)
        == price.max_output_tokens * price.output // 1_000_000 + price.per_request
    )


def test_worst_case_covers_write_prices_above_input() -> None:
    # A 1-hour write (x 2 by default, or the catalog's) costs more than uncached input.
    for pricing in (
        {"input": 3, "output": 15},
        {"input": 3, "output": 15, "cache_write_5m": 9, "cache_write_1h": 4},
        {"input": 0.075, "output": 0.3},
    ):
        price = price_of(pricing)
        bound = worst_case(price, prompt_tokens=777, max_output_tokens=10)
        for usage in (
            Usage(777, 10, cache_write_tokens=777),
            Usage(777, 10, cache_write_tokens=777, cache_write_1h_tokens=777),
            Usage(777, 10, cache_write_tokens=700, cache_write_1h_tokens=300, cached_tokens=77),
        ):
            assert token_cost(usage, price) <= bound, (pricing, usage)


def test_default_write_prices() -> None:
    price = price_of({"input": 3, "output": 15})
    assert price.write_5m == usd_to_units("3.75") and price.write_1h == usd_to_units(6)
    explicit = price_of({"input": 3, "cache_write_5m": 0, "cache_write_1h": 5})
    assert explicit.write_5m == 0 and explicit.write_1h == usd_to_units(5)


def test_one_rounding_with_a_multiplier() -> None:
    # 3 five-minute writes at $0.075 x 1.25 = 937.5 units each: 2812.5 units, x 2/3 = 1875
    # exactly (no rounding); rounding first (2813 x 2/3 = 1875.33 -> 1876) would overcharge.
    price = price_of({"input": 0.075, "output": 0.3})
    usage = Usage(prompt_tokens=3, cache_write_tokens=3)
    assert token_cost(usage, price) == 2813
    assert token_cost(usage, price, Fraction(2, 3)) == 1875
    assert token_cost(usage, price, Fraction(1, 3)) == 938  # 937.5 rounded up once


def test_upstream_cost_is_the_list_price_times_the_channel_multiplier() -> None:
    # 3 five-minute writes at $0.075 x 1.25 (937.5 units each) + 2 reads at $0.0075 (75)
    # + 1 output at $0.3 (3000): 2812.5 + 150 + 3000 = 5962.5 units at list price.
    price = price_of({"input": 0.075, "cached_input": 0.0075, "output": 0.3})
    usage = Usage(prompt_tokens=5, completion_tokens=1, cached_tokens=2, cache_write_tokens=3)
    assert token_cost(usage, price) == 5963
    assert upstream_cost(usage, price, None) is None  # the channel's cost is not known
    assert upstream_cost(usage, price, Fraction(0)) == 0
    assert upstream_cost(usage, price, Fraction(1)) == 5963
    # x 0.4 = 2385 exactly: one rounding, after the multiplier (5963 x 0.4 = 2385.2 -> 2386).
    assert upstream_cost(usage, price, cost_fraction("0.4")) == 2385
    assert upstream_cost(usage, price, cost_fraction("0.0000000001")) == 1  # rounded up
    # A per-image price and a per-request price are list prices too.
    priced = price_of({"input": 1, "output": 1, "per_request": 0.001})
    images = Usage(prompt_tokens=0, completion_tokens=0, images=2)
    assert upstream_cost(images, priced, cost_fraction("0.5"), image_price=40_000_000) == (
        (10_000_000 + 2 * 40_000_000) // 2
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [("0.85", "0.85"), (0.85, "0.85"), (1, "1"), ("1.10", "1.1"), ("1e2", "100"), ("0.000", "0")],
)
def test_cost_multiplier_is_kept_as_exact_decimal_text(given: object, stored: str) -> None:
    assert cost_multiplier_text(given) == stored
    assert cost_fraction(stored) == Fraction(Decimal(stored))


@pytest.mark.parametrize("given", ["-1", "1000.1", "NaN", "inf", "x", "", "1e-11", True, None, [1]])
def test_bad_cost_multipliers(given: object) -> None:
    with pytest.raises(ValueError, match="cost_multiplier"):
        cost_multiplier_text(given)
