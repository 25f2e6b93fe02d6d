"""The user's model catalogue and usage export in the console: the models their keys may
call with the endpoints each serves and the prices they pay after their group's multiplier;
every usage row matching the filters as CSV, cache writes included, another user's never."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.console import Console, new_email
from surfaces.admin_kit import UPSTREAM_KEY, chat, eventually, expect_error, ok

Browser = Callable[[], Console]


def _signed_up(browser: Browser) -> tuple[Console, str]:
    console = browser()
    assert console.sign_up(new_email()).status_code == 201
    return console, ok(console.call("GET", "/me"))["user"]["id"]


def _by_id(console: Console) -> dict[str, dict]:
    body = ok(console.call("GET", "/models"))
    return {m["id"]: m for m in body["models"]}


def test_the_catalogue_lists_what_the_users_keys_reach_at_the_groups_prices(
    admin: Admin, upstream: FakeOpenAI, browser: Browser
) -> None:
    chat_model, embed_model = unique_model("cat"), unique_model("emb")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[chat_model],
        price={"input": 3, "output": 15, "per_request": 0.01},
    )
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[embed_model],
        endpoints=["embeddings"],
        price={"input": 0.02, "per_image": {"1024x1024": 0.04}},
    )
    console, user_id = _signed_up(browser)
    # No key yet: what a new key with every permission would reach, at list price.
    body = ok(console.call("GET", "/models"))
    assert body["basis"] == "account" and body["multiplier"] == 1
    listed = {m["id"]: m for m in body["models"]}
    assert "chat" in listed[chat_model]["endpoints"]
    assert "embeddings" not in listed[chat_model]["endpoints"]
    assert listed[embed_model]["endpoints"] == ["embeddings"]
    assert listed[chat_model]["pricing"] == {
        "input": 3,
        "output": 15,
        "per_request": 0.01,
        # What a call pays for the cache when the catalog sets no price of its own.
        "cached_input": 3,
        "cache_write_5m": 3.75,
        "cache_write_1h": 6,
    }

    group = "g" + uuid.uuid4().hex[:8]
    ok(admin.http.patch("/v1/admin/settings", json={"group_multipliers": {group: 0.5}}))
    ok(admin.http.patch(f"/v1/admin/users/{user_id}", json={"group": group}))

    def halved() -> bool:
        pricing = _by_id(console)[embed_model]["pricing"]
        return pricing["input"] == 0.01 and pricing["per_image"] == {"1024x1024": 0.02}

    assert eventually(halved)
    assert _by_id(console)[chat_model]["pricing"]["cache_write_5m"] == 1.875

    # With keys: the union of what they may call; a key that cannot embed hides embeddings.
    ok(console.call("POST", "/keys", {"name": "chat only", "permissions": ["chat"]}), 201)
    body = ok(console.call("GET", "/models"))
    assert body["basis"] == "keys" and body["group"] == group and body["multiplier"] == 0.5
    listed = {m["id"]: m for m in body["models"]}
    assert chat_model in listed and embed_model not in listed
    other, _ = _signed_up(browser)
    restricted = ok(other.call("POST", "/keys", {"name": "one", "models": [embed_model]}), 201)
    assert list(_by_id(other)) == [embed_model]
    ok(other.call("DELETE", f"/keys/{restricted['id']}"))
    assert chat_model in _by_id(other)  # no usable key left: the account's view again


def test_the_management_key_has_no_catalogue(
    gateway_url: str, admin_key: str, browser: Browser
) -> None:
    operator = browser()
    ok(operator.operator(admin_key))
    expect_error(operator.call("GET", "/models"), 403)
    expect_error(httpx.get(f"{gateway_url}/console/api/models"), 401)
    expect_error(httpx.get(f"{gateway_url}/console/api/usage.csv"), 401)


def test_the_csv_export_holds_every_matching_row_with_cache_writes_and_exact_costs(
    gateway_url: str, admin: Admin, upstream: FakeOpenAI, browser: Browser
) -> None:
    model, other_model = unique_model("csv"), unique_model("csv")
    for name in (model, other_model):
        admin.create_channel(
            type="openai", base_url=upstream.base_url, api_keys=[UPSTREAM_KEY], models=[name]
        )
    console, user_id = _signed_up(browser)
    ok(admin.http.post("/v1/admin/topup", json={"user_id": user_id, "amount": 5}))
    key = ok(console.call("POST", "/keys", {"name": "csv"}), 201)["key"]
    ids = []
    for name in (model, model, model, other_model):
        response = chat(gateway_url, key, name)
        assert response.status_code == 200, response.text
        ids.append(response.headers["x-request-id"])
    stranger, _ = _signed_up(browser)

    def recorded() -> bool:
        return ok(console.call("GET", "/usage"))["total"] == 4

    assert eventually(recorded)
    # More rows than a page of the usage list: the export is not the page shown.
    response = console.call("GET", "/usage.csv", params={"model": model})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["request_id"] for r in table) == sorted(ids[:3])
    assert "cache_write_tokens" in table[0] and "cached_tokens" in table[0]
    rows = {r["request_id"]: r for r in ok(console.call("GET", "/usage"))["usage"]}
    for line in table:
        row = rows[line["request_id"]]
        assert Decimal(line["cost"]) == Decimal(str(row["cost"])) and Decimal(line["cost"]) > 0
        assert int(line["cache_write_tokens"]) == row["cache_write_tokens"]
        assert int(line["prompt_tokens"]) == row["prompt_tokens"]
    everything = list(csv.DictReader(io.StringIO(console.call("GET", "/usage.csv").text)))
    assert len(everything) == 4
    assert len(list(csv.DictReader(io.StringIO(stranger.call("GET", "/usage.csv").text)))) == 0
    expect_error(console.call("GET", "/usage.csv", params={"start_date": "yesterday"}), 400)
