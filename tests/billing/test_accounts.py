"""One balance for operator and user: the admin user object and ``/v1/balance`` give the
same figure, with money held by instances for coming calls counted as the user's."""

from __future__ import annotations

import httpx
import openai
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, wait_for_rows

from airelay.money import units_to_usd, usd_to_units


def test_admin_and_user_see_the_same_balance_while_an_instance_holds_money(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("acct")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        price={"input": 1, "output": 2, "per_request": 0.0002},
    )
    user = admin.create_user(balance=10)
    key = admin.create_token(user["id"])["key"]
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    assert state.held > 0  # the instance holds money of the user for its next calls
    assert books(gateway.settings.database_url, user["id"]).usage_rows == 1

    mine = httpx.get(gateway.url + "/v1/balance", headers={"Authorization": f"Bearer {key}"})
    theirs = admin.http.get(f"/v1/admin/users/{user['id']}").json()
    listed = admin.http.get("/v1/admin/users?limit=200").json()["users"]
    expected = units_to_usd(usd_to_units(10) - state.usage_cost)
    assert mine.json()["balance"] == expected
    assert theirs["balance"] == expected
    assert [u["balance"] for u in listed if u["id"] == user["id"]] == [expected]
    assert theirs["total_usage"] == mine.json()["total_spent"] == units_to_usd(state.usage_cost)
