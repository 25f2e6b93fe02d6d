"""Golden costs of image calls: n images at the per-image price of their size and quality
(a table, or one price), a per-request price once, a group multiplier rounding once, and
reservations that cover what is then charged."""

from __future__ import annotations

from fractions import Fraction

import pytest

from airelay.formats.usage import Usage
from airelay.money import usd_to_units
from airelay.pricing import Price, image_price, token_cost, worst_case

TABLE = Price(
    per_image={
        "1024x1024": usd_to_units("0.04"),
        "1024x1024/hd": usd_to_units("0.08"),
        "1792x1024/hd": usd_to_units("0.12"),
        "default": usd_to_units("0.02"),
    },
    per_request=usd_to_units("0.001"),
)


@pytest.mark.parametrize(
    ("size", "quality", "images", "usd"),
    [
        ("1024x1024", None, 1, "0.041"),
        ("1024x1024", "hd", 3, "0.241"),  # 3 x 0.08 + 0.001
        ("1024x1024", "standard", 2, "0.081"),  # no 1024x1024/standard: the size's price
        ("1792x1024", "hd", 2, "0.241"),
        ("1792x1024", None, 4, "0.081"),  # no 1792x1024 alone: default
        (None, None, 1, "0.021"),
    ],
)
def test_per_image_golden(size: str | None, quality: str | None, images: int, usd: str) -> None:
    each = image_price(TABLE, size, quality)
    assert each is not None
    cost = token_cost(Usage(images=images), TABLE, None, each)
    assert cost == usd_to_units(usd)
    assert cost <= worst_case(TABLE, 0, 0, images=images, image_price=each)


def test_a_multiplier_rounds_once() -> None:
    price = Price(per_image=usd_to_units("0.0000000003"))  # 3 units an image
    cost = token_cost(Usage(images=1), price, Fraction(1, 2), 3)
    assert cost == 2  # 1.5 units, rounded up once
    assert token_cost(Usage(images=3), price, Fraction(1, 3), 3) == 3  # exactly 3


def test_tokens_and_images_add_up() -> None:
    price = Price(input=usd_to_units(5), output=usd_to_units(40))
    # gpt-image: 12 input tokens, 4160 output tokens, no per-image price.
    assert image_price(price, "1024x1024", "high") is None
    cost = token_cost(Usage(prompt_tokens=12, completion_tokens=4160, images=1), price)
    assert cost == usd_to_units("0.16646")
