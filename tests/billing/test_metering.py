"""Billing through real calls: exact books under concurrency, streams billed once on what
they produced, and every refusal raising the OpenAI SDK's typed exception."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest
from fakes.openai_upstream import Behaviour, FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, wait_for_rows

from airelay.money import usd_to_units

MESSAGES = [{"role": "user", "content": "hello there"}]
PRICE = {"input": 1, "output": 2, "per_request": 0.0002}


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("bill")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[name], price=PRICE
    )
    return name


def expected_cost(prompt: int, completion: int) -> int:
    return prompt * 10_000 + completion * 20_000 + usd_to_units(PRICE["per_request"])


def test_non_stream_call_is_billed_exactly(gateway: Gateway, admin: Admin, model: str) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    reply = sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.usage is not None
    state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    cost = expected_cost(reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert state.usage_cost == cost == state.total_usage
    assert state.spendable == usd_to_units(1) - cost
    balance = httpx.get(gateway.url + "/v1/balance", headers={"Authorization": f"Bearer {key}"})
    assert balance.json()["balance"] == pytest.approx((usd_to_units(1) - cost) / 1e10)


@pytest.mark.parametrize("include_usage", [False, True])
def test_full_stream_is_billed_once_on_reported_usage(
    gateway: Gateway, admin: Admin, model: str, include_usage: bool
) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = list(
        sdk(gateway, key).chat.completions.create(
            model=model,
            messages=MESSAGES,
            stream=True,
            **options,  # type: ignore[arg-type]
        )
    )
    assert chunks
    state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    # "hello there": 2 prompt words; "Hello! You said: hello there": 5 completion words.
    assert state.usage_rows == 1 and state.usage_cost == expected_cost(2, 5)
    assert state.spendable == usd_to_units(1) - expected_cost(2, 5)


def test_abandoned_stream_is_billed_on_tokens_produced(
    gateway: Gateway, admin: Admin, model: str, upstream: FakeOpenAI
) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    upstream.script(Behaviour.slow_stream(0.15))
    long_prompt = "one two three four five six seven eight nine ten eleven twelve"
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        json={
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": long_prompt}],
        },
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                received += 1
                if received == 4:
                    break
    assert upstream.wait_for_disconnects(1, timeout=5)
    state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    time.sleep(0.5)  # nothing more may arrive for this call
    again = books(gateway.settings.database_url, user["id"])
    assert again.usage_rows == 1 and again.usage_cost == state.usage_cost
    full = expected_cost(12, 15)  # what the whole answer would have cost
    assert 0 < state.usage_cost < full
    assert state.spendable == usd_to_units(1) - state.usage_cost


def test_failed_call_costs_nothing(
    gateway: Gateway, admin: Admin, model: str, upstream: FakeOpenAI
) -> None:
    user = admin.create_user(balance=1)
    key = admin.create_token(user["id"])["key"]
    upstream.script(Behaviour.error(500, "boom"))
    with pytest.raises(openai.InternalServerError):
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    time.sleep(0.5)
    state = books(gateway.settings.database_url, user["id"])
    assert state.usage_rows == 0 and state.spendable == usd_to_units(1)


def test_parallel_calls_never_overdraw_and_books_balance(
    gateway: Gateway, admin: Admin, model: str
) -> None:
    initial = 0.01
    user = admin.create_user(balance=initial)
    key = admin.create_token(user["id"])["key"]
    top_up = admin.http.post(
        "/v1/admin/topup", json={"user_id": user["id"], "amount": 0.005}
    ).json()
    assert top_up["success"] is True
    client = sdk(gateway, key)

    def call(_: int) -> int:
        try:
            client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=50)  # type: ignore[arg-type]
            return 200
        except openai.APIStatusError as exc:
            return exc.status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(call, range(200)))
    ok = statuses.count(200)
    assert set(statuses) <= {200, 402}
    assert 0 < ok < 200, statuses
    state = wait_for_rows(gateway.settings.database_url, user["id"], ok)
    assert state.usage_rows == ok
    assert state.balance >= 0 and state.held >= 0
    # initial + top-ups - sum(usage.cost) == balance, to the last unit.
    assert state.credits == usd_to_units(initial) + usd_to_units(0.005)
    assert state.credits - state.usage_cost == state.spendable
    assert state.usage_cost == ok * expected_cost(2, 5)


MGMT_ONLY = {"permissions": ["embeddings"]}


def _refused(gateway: Gateway, key: str, model: str) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    return caught.value


def test_refusals_raise_typed_exceptions(gateway: Gateway, admin: Admin, model: str) -> None:
    broke = admin.create_token(admin.create_user(balance=0)["id"])["key"]
    error = _refused(gateway, broke, model)
    assert error.status_code == 402
    assert error.response.json()["error"]["type"] == "insufficient_funds"

    other_model = admin.create_token(models=["another-model"])["key"]
    assert isinstance(_refused(gateway, other_model, model), openai.PermissionDeniedError)

    no_chat = admin.create_token(**MGMT_ONLY)["key"]
    assert isinstance(_refused(gateway, no_chat, model), openai.PermissionDeniedError)

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired = admin.create_token(expires_at=past)["key"]
    error = _refused(gateway, expired, model)
    assert isinstance(error, openai.AuthenticationError) and "expired" in error.message

    revoked = admin.create_token()
    admin.http.delete(f"/v1/admin/tokens/{revoked['id']}")
    error = _refused(gateway, revoked["key"], model)
    assert isinstance(error, openai.AuthenticationError) and "revoked" in error.message

    elsewhere = admin.create_token(ip_allowlist=["10.0.0.0/8"])["key"]
    error = _refused(gateway, elsewhere, model)
    assert isinstance(error, openai.PermissionDeniedError) and "127.0.0.1" in error.message
    assert sdk(
        gateway, admin.create_token(ip_allowlist=["127.0.0.1"])["key"]
    ).chat.completions.create(
        model=model,
        messages=MESSAGES,  # type: ignore[arg-type]
    )


def test_quota_exhausted_is_403(gateway: Gateway, admin: Admin, model: str) -> None:
    """A call is let through only if its worst case fits in what the quota has left: the
    first one asks for little, the next for as much as the model may produce."""
    key = admin.create_token(quota=0.0003)["key"]  # one call's $0.0002, and a little
    sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
    error = _refused(gateway, key, model)
    assert isinstance(error, openai.PermissionDeniedError) and "quota" in error.message


def test_unpriced_model_cannot_be_called_but_price_zero_can(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    unpriced, free = unique_model("unpriced"), unique_model("free")
    admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[unpriced], price={}
    )
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[free],
        price={"input": 0, "output": 0},
    )
    key = admin.create_token(admin.create_user(balance=0)["id"])["key"]
    error = _refused(gateway, key, unpriced)
    assert isinstance(error, openai.PermissionDeniedError) and "price" in error.message
    assert unpriced not in [m.id for m in sdk(gateway, key).models.list()]
    reply = sdk(gateway, key).chat.completions.create(model=free, messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content


def test_group_multiplier_discounts(gateway: Gateway, admin: Admin, model: str) -> None:
    admin.http.patch("/v1/admin/settings", json={"group_multipliers": {"half": 0.5}})
    user = admin.create_user(balance=1, group="half")
    key = admin.create_token(user["id"])["key"]
    sdk(gateway, key).chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    state = wait_for_rows(gateway.settings.database_url, user["id"], 1)
    assert state.usage_cost == expected_cost(2, 5) // 2
