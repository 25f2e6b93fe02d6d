"""Exact money: integer units of 1e-10 USD.

A price per 1M tokens with up to four decimals ($0.0375 / 1M) therefore gives every token a
whole-number price (375 units), and a signed 64-bit column still holds $922 million.
Floats appear only at the JSON edge, for display.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

UNITS_PER_USD = 10**10
# What a signed 64-bit column holds (about $922 million).
MAX_UNITS = 2**63 - 1


def usd_to_units(value: object) -> int:
    """Parse a JSON number or numeric string of USD into exact units; raise ValueError if the
    amount is not a finite number or is finer than one unit."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("amount must be a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("amount must be a number") from exc
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    units = amount * UNITS_PER_USD
    if units != units.to_integral_value():
        raise ValueError("amount has more precision than 1e-10 USD")
    if abs(units) > MAX_UNITS:
        raise ValueError("amount is too large")
    return int(units)


def units_to_usd(units: int) -> float:
    """Units as a USD number for JSON (display only; the ledger never sees it)."""
    return float(Decimal(units) / UNITS_PER_USD)
