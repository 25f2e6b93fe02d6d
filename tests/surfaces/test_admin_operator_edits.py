"""Management API additions the console's operator pages use: a channel PATCH that adds
upstream keys to the stored ones (which are never shown, so cannot be sent back), ``null``
removing a group's price multiplier, and the list of all keys naming each owner's email."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, chat, eventually, expect_error, ok, table_dump

from airelay.security.keys import mask


def test_add_api_keys_appends_to_the_stored_keys(
    admin: Admin, gateway: Gateway, upstream: FakeOpenAI
) -> None:
    extra = "sk-added-" + uuid.uuid4().hex
    model = unique_model("addkey")
    channel = admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[UPSTREAM_KEY], models=[model]
    )
    url = f"/v1/admin/channels/{channel['id']}"
    response = admin.http.patch(url, json={"add_api_keys": [f"  {extra} "]})
    changed = ok(response)
    assert extra not in response.text
    assert changed["api_keys"] == [channel["api_keys"][0], mask(extra)]
    assert [k["index"] for k in changed["health"]["keys"]] == [0, 1]
    assert extra not in table_dump(gateway.settings.database_url, "channels")
    # Replacing still replaces; sending both is ambiguous and refused.
    expect_error(admin.http.patch(url, json={"api_keys": [extra], "add_api_keys": [extra]}), 400)
    expect_error(admin.http.patch(url, json={"add_api_keys": [" "]}), 400)
    expect_error(admin.http.patch(url, json={"add_api_keys": ["a\nb"]}), 400)
    replaced = ok(admin.http.patch(url, json={"api_keys": [UPSTREAM_KEY]}))
    assert replaced["api_keys"] == [channel["api_keys"][0]]
    ok(admin.http.patch(url, json={"status": "disabled"}))


def test_added_keys_are_checked_against_the_type(admin: Admin) -> None:
    channel = admin.create_channel(
        type="bedrock",
        base_url="https://bedrock-runtime.us-east-1.amazonaws.com",
        api_keys=["AKIAEXAMPLE:secret"],
        status="disabled",
    )
    url = f"/v1/admin/channels/{channel['id']}"
    expect_error(admin.http.patch(url, json={"add_api_keys": ["not-aws-credentials"]}), 400)
    assert len(ok(admin.http.get(url))["api_keys"]) == 1


@pytest.fixture
def multipliers_restored(admin: Admin) -> Iterator[None]:
    before = ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    yield
    now = ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    restore: dict[str, Any] = {group: None for group in now if group not in before}
    ok(admin.http.patch("/v1/admin/settings", json={"group_multipliers": {**restore, **before}}))


def _balance(admin: Admin, user_id: str) -> float:
    return float(ok(admin.http.get(f"/v1/admin/users/{user_id}"))["balance"])


def test_null_removes_a_group_multiplier(
    admin: Admin, gateway: Gateway, upstream: FakeOpenAI, multipliers_restored: None
) -> None:
    group = "g" + uuid.uuid4().hex[:8]
    other = "h" + uuid.uuid4().hex[:8]
    body = {"group_multipliers": {group: 2, other: "0.5"}}
    shown = ok(admin.http.patch("/v1/admin/settings", json=body))["group_multipliers"]
    assert (shown[group], shown[other]) == ("2", "0.5")

    model = unique_model("mult")
    admin.create_channel(
        type="openai", base_url=upstream.base_url, api_keys=[UPSTREAM_KEY], models=[model]
    )
    admin.price(model, {"input": 1000, "output": 1000})
    user = admin.create_user(balance=10, group=group)
    key = admin.create_token(user["id"])["key"]

    def charged(before: float) -> float:
        """What one call costs the user (the same call each time: the same tokens)."""
        assert chat(gateway.url, key, model).status_code == 200
        eventually(lambda: _balance(admin, user["id"]) != before, timeout=10)
        return round(before - _balance(admin, user["id"]), 6)

    doubled = charged(10)
    assert doubled > 0

    removed = {"group_multipliers": {group: None}}
    shown = ok(admin.http.patch("/v1/admin/settings", json=removed))["group_multipliers"]
    assert group not in shown and shown[other] == "0.5"  # the others stay
    assert group not in ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    listed = charged(_balance(admin, user["id"]))
    assert doubled == pytest.approx(2 * listed, abs=1e-6)  # the list price again

    bad = {"group_multipliers": {"": 1}}
    expect_error(admin.http.patch("/v1/admin/settings", json=bad), 400)


def test_the_list_of_all_keys_names_each_owner(admin: Admin) -> None:
    first, second = admin.create_user(), admin.create_user()
    mine = admin.create_token(first["id"], name="first's")
    theirs = admin.create_token(second["id"], name="second's")
    listed: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        body = ok(admin.http.get("/v1/admin/tokens", params={"page": page, "limit": 200}))
        listed.update({t["id"]: t for t in body["tokens"]})
        if page * body["limit"] >= body["total"]:
            break
        page += 1
    assert listed[mine["id"]]["user_email"] == first["email"]
    assert listed[theirs["id"]]["user_email"] == second["email"]
    # Newest first: the key just made is on the first page.
    later = admin.create_token(second["id"], name="second's later")
    only = ok(admin.http.get("/v1/admin/tokens", params={"user_id": second["id"]}))
    assert [(t["id"], t["user_email"]) for t in only["tokens"]] == [
        (later["id"], second["email"]),
        (theirs["id"], second["email"]),
    ]
    first_page = ok(admin.http.get("/v1/admin/tokens", params={"limit": 1}))
    assert [t["id"] for t in first_page["tokens"]] == [later["id"]]
    assert first_page["total"] == len(listed) + 1
