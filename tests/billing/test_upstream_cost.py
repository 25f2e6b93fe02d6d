"""What a call cost the operator upstream: a channel's ``cost_multiplier`` times the call's
price at the model's list price (no group multiplier), rounded up to a unit once, recorded
on the usage row at settle time and summed in the daily rollups; shown to operators (usage
rows, the summary's totals and breakdowns with the margin), never to the user.

Through the real gateway, an Anthropic SDK client and a scripted Anthropic upstream that
reports cache reads and both kinds of cache writes (each priced apart).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows
from surfaces.admin_kit import expect_error, ok

from airelay.money import units_to_usd

PRICING = {"input": 3, "cached_input": 0.3, "output": 15}
USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 25,
}
# At list price, per 1M tokens: 50 x $3 + 1000 5-minute writes x $3.75 + 2000 1-hour writes
# x $6 + 4000 reads x $0.3 + 25 x $15 = $17,475 per 1M = $0.017475 = 174,750,000 units.
LIST_UNITS = 174_750_000
# The user's group pays half: the revenue, which the upstream cost never depends on.
CHARGE_UNITS = 87_375_000


def answer(model: str) -> Raw:
    message = {
        "id": "msg_cost",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": USAGE,
    }
    return Raw.json(orjson.dumps(message))


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture(scope="module")
def half_group(admin: Admin) -> str:
    ok(admin.http.patch("/v1/admin/settings", json={"group_multipliers": {"half-cost": 0.5}}))
    return "half-cost"


def call_through(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    group: str,
    pricing: dict[str, Any] = PRICING,
    **channel: Any,
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """One call of a fresh model through a fresh anthropic channel: (the channel, the model,
    the caller's key, the stored usage row)."""
    model = unique_model("upcost")
    created = admin.create_channel(
        type="anthropic",
        base_url=server.origin,
        api_keys=["sk-upcost-upstream"],
        models=[model],
        price=pricing,
        **channel,
    )
    user = admin.create_user(balance=5, group=group)
    key = str(admin.create_token(user["id"])["key"])
    server.script(answer(model))
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    sdk.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    [row] = usage_rows(gateway.settings.database_url, user["id"])
    return created, model, key, row


@pytest.mark.parametrize(
    ("multiplier", "units"),
    [
        ("0.6", 104_850_000),  # exact: 174,750,000 x 0.6
        (1, LIST_UNITS),  # a JSON number is taken as its decimal text
        ("0", 0),  # a free upstream
        ("0.3333333333", 58_250_000),  # 58,249,999.994175 rounded up once
        ("0.0000000003", 1),  # 0.052425 units: rounded up to one
        ("2.5", 436_875_000),  # an upstream dearer than the list price
    ],
)
def test_exact_upstream_cost_at_list_price(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    half_group: str,
    multiplier: str | int,
    units: int,
) -> None:
    channel, model, _, row = call_through(
        gateway, admin, server, half_group, cost_multiplier=multiplier
    )
    assert channel["cost_multiplier"] == str(multiplier)
    # Cache reads and both kinds of writes reached the books, each at its own price.
    assert (row["cached_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (
        4000,
        3000,
        2000,
    )
    assert row["cost"] == CHARGE_UNITS
    assert row["upstream_cost"] == units

    page = ok(admin.http.get("/v1/admin/usage", params={"model": model}))
    [shown] = page["usage"]
    assert shown["upstream_cost"] == units_to_usd(units)
    assert shown["cost"] == units_to_usd(CHARGE_UNITS)

    summary = ok(admin.http.get("/v1/admin/usage/summary", params={"model": model}))
    margin = units_to_usd(CHARGE_UNITS - units)
    for entry in (
        summary["totals"],
        *summary["by_model"],
        *summary["by_channel"],
        *summary["by_user"],
    ):
        assert entry["cost"] == units_to_usd(CHARGE_UNITS)
        assert entry["upstream_cost"] == units_to_usd(units)
        assert entry["margin"] == margin
        assert entry["cost_known_requests"] == entry["requests"] == 1
    [by_channel] = summary["by_channel"]
    assert by_channel["channel_id"] == channel["id"]


@pytest.mark.parametrize(
    ("pricing", "multiplier", "charge", "units"),
    [
        # Write prices of its own and a per-request price, per 1M: 50 x 0.075 + 1000 x 0.1
        # + 2000 x 0.15 + 4000 x 0.0075 + 25 x 0.3 + 1M x 0.0001 = $541.25 = 5,412,500
        # units at list price; x 0.7 = 3,788,750 exactly.
        (
            {
                "input": 0.075,
                "cached_input": 0.0075,
                "output": 0.3,
                "cache_write_5m": 0.1,
                "cache_write_1h": 0.15,
                "per_request": 0.0001,
            },
            "0.7",
            2_706_250,
            3_788_750,
        ),
        # The default write prices on $0.075 input (x 1.25 = 937.5 units a token), reads at
        # the input price: 3.75 + 93.75 + 300 + 300 + 7.5 = $705 = 7,050,000 units; x
        # 0.3333333333 = 2,349,999.99765, rounded up once to 2,350,000.
        ({"input": 0.075, "output": 0.3}, "0.3333333333", 3_525_000, 2_350_000),
    ],
)
def test_exact_upstream_cost_for_other_prices(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    half_group: str,
    pricing: dict[str, Any],
    multiplier: str,
    charge: int,
    units: int,
) -> None:
    _, _, _, row = call_through(
        gateway, admin, server, half_group, pricing, cost_multiplier=multiplier
    )
    assert (row["cost"], row["upstream_cost"]) == (charge, units)


def test_unknown_cost_is_left_out_of_the_margin(
    gateway: Gateway, admin: Admin, server: ScriptedServer, half_group: str
) -> None:
    """A channel without a cost records none (null), counted apart: the margin is over the
    calls whose cost is known, and ``cost_known_requests`` says how many those are."""
    channel, model, _, row = call_through(gateway, admin, server, half_group)
    assert channel["cost_multiplier"] is None
    assert row["upstream_cost"] is None
    [shown] = ok(admin.http.get("/v1/admin/usage", params={"model": model}))["usage"]
    assert shown["upstream_cost"] is None
    totals = ok(admin.http.get("/v1/admin/usage/summary", params={"model": model}))["totals"]
    assert (totals["requests"], totals["cost_known_requests"]) == (1, 0)
    assert totals["cost"] == units_to_usd(CHARGE_UNITS)
    assert (totals["upstream_cost"], totals["margin"]) == (0, 0)

    # The cost set later applies to later calls only; a day's totals mix both kinds.
    admin.patch_channel(channel["id"], cost_multiplier="0.5")
    user = admin.create_user(balance=5, group=half_group)
    key = str(admin.create_token(user["id"])["key"])
    server.script(answer(model))
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    sdk.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    [second] = usage_rows(gateway.settings.database_url, user["id"])
    assert second["upstream_cost"] == LIST_UNITS // 2
    totals = ok(admin.http.get("/v1/admin/usage/summary", params={"model": model}))["totals"]
    assert (totals["requests"], totals["cost_known_requests"]) == (2, 1)
    assert totals["cost"] == units_to_usd(2 * CHARGE_UNITS)
    assert totals["upstream_cost"] == units_to_usd(LIST_UNITS // 2)
    # Revenue of the one call with a known cost, minus that cost: 87,375,000 - 87,375,000.
    assert totals["margin"] == units_to_usd(CHARGE_UNITS - LIST_UNITS // 2)


def test_a_user_never_sees_the_upstream_cost(
    gateway: Gateway, admin: Admin, server: ScriptedServer, half_group: str
) -> None:
    _, _, key, row = call_through(gateway, admin, server, half_group, cost_multiplier="0.6")
    assert row["upstream_cost"] == 104_850_000
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for path in ("/v1/usage", "/usage"):
            body = ok(http.get(path, headers=auth))
            [shown] = body["usage"]
            assert shown["cost"] == units_to_usd(CHARGE_UNITS)
            assert "upstream_cost" not in shown and "margin" not in shown
            assert b"upstream" not in http.get(path, headers=auth).content
        expect_error(http.get("/v1/admin/usage/summary", headers=auth), 403)
        expect_error(http.get("/v1/admin/channels", headers=auth), 403)


@pytest.mark.parametrize(
    "value",
    ["-0.1", -1, "abc", "", "NaN", "Infinity", "1e400", "1001", "0.00000000001", True, [1], {}],
)
def test_bad_cost_multipliers_are_refused(admin: Admin, value: Any) -> None:
    fields = {"name": "bad-cost", "api_keys": ["sk-x"], "models": ["m"], "cost_multiplier": value}
    expect_error(admin.http.post("/v1/admin/channels", json=fields), 400)
    channel = admin.create_channel(api_keys=["sk-x"], models=[unique_model("upcost-bad")])
    expect_error(
        admin.http.patch(f"/v1/admin/channels/{channel['id']}", json={"cost_multiplier": value}),
        400,
    )


def test_cost_multiplier_is_stored_exactly_and_cleared_with_null(admin: Admin) -> None:
    channel = admin.create_channel(
        api_keys=["sk-x"], models=[unique_model("upcost-keep")], cost_multiplier=0.85
    )
    assert channel["cost_multiplier"] == "0.85"
    for given, shown in (("1.10", "1.1"), ("0.0000000001", "0.0000000001"), ("1000", "1000")):
        assert admin.patch_channel(channel["id"], cost_multiplier=given)["cost_multiplier"] == shown
    assert admin.patch_channel(channel["id"], name="renamed")["cost_multiplier"] == "1000"
    assert admin.patch_channel(channel["id"], cost_multiplier=None)["cost_multiplier"] is None
    fetched = ok(admin.http.get(f"/v1/admin/channels/{channel['id']}"))
    assert fetched["cost_multiplier"] is None
