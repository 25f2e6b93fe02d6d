"""The CSV lines of a usage export and the prices a group pays, without a gateway: costs
as exact decimals, formulas defused, a multiplier's product rounded up to a unit."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

from airelay.pricing import Price
from airelay.surfaces.console.catalogue import user_pricing, user_units
from airelay.surfaces.console.usage_export import COLUMNS, csv_lines, usd_text


def _row(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {name: 0 for name in COLUMNS}
    row.update(request_id="req_1", model="m", endpoint="/v1/chat/completions", token_id=None)
    row.update(created_at=1_700_000_000, cost=12345, status=200)
    row.update(fields)
    return row


def test_costs_are_exact_decimals_and_formulas_are_defused() -> None:
    assert usd_text(12345) == "0.0000012345"
    assert usd_text(2**53 + 1) == "900719.9254740993"  # beyond a double's exact range
    text = csv_lines([_row(model='=HYPERLINK("x")', cache_write_tokens=7), _row(model="-1")])
    first, second = list(csv.reader(io.StringIO(text)))
    cells = dict(zip(COLUMNS, first, strict=True))
    assert cells["model"] == '\'=HYPERLINK("x")' and cells["cache_write_tokens"] == "7"
    assert cells["cost"] == "0.0000012345" and cells["token_id"] == ""
    assert cells["timestamp"] == "2023-11-14T22:13:20Z"
    assert dict(zip(COLUMNS, second, strict=True))["model"] == "'-1"


def test_a_group_price_rounds_up_to_a_unit_and_shows_the_default_cache_prices() -> None:
    assert user_units(10, None) == 10 and user_units(10, Fraction(1)) == 10
    assert user_units(10, Fraction(1, 3)) == 4  # 3.33... rounds up, as a call's charge does
    # $0.075 per 1M input: a 5-minute cache write is $0.09375, not a multiple of 1M units.
    pricing = {"input": 750_000_000, "per_image": {"1024x1024": 400_000_000}}
    shown = user_pricing(pricing, Price.from_catalog(pricing, None), None)
    assert shown == {
        "input": 0.075,
        "per_image": {"1024x1024": 0.04},
        "cached_input": 0.075,
        "cache_write_5m": 0.09375,
        "cache_write_1h": 0.15,
    }
    # A price the catalog sets is kept; no cache price is invented for a model without input.
    priced = {"input": 10**10, "cached_input": 10**9}
    halved = user_pricing(priced, Price.from_catalog(priced, None), Fraction(1, 2))
    assert halved["cached_input"] == 0.05 and halved["cache_write_5m"] == 0.625
    assert user_pricing({"per_request": 10}, Price(per_request=10), None) == {"per_request": 1e-9}
