"""Management API: the model catalog. Ids may contain ``/``; prices are USD and come back
exactly as given; prices that are negative, unknown or finer than the ledger's unit are refused."""

from __future__ import annotations

from typing import Any

import pytest
from support.admin import Admin, unique_model
from surfaces.admin_kit import expect_error, ok

PRICING: dict[str, float] = {
    "input": 2.5,
    "output": 10.0,
    "cached_input": 0.625,
    "cache_write_5m": 3.125,
    "cache_write_1h": 5.0,
    "per_request": 0.075,
    "per_image": 0.04,
    "per_video_second": 0.1,
    "per_million_characters": 15.0,
    "per_audio_minute": 0.006,
}


def listed(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The models of a list answer by id (OpenAI-style ``data`` or ``models``)."""
    items = body["data"] if "data" in body else body["models"]
    return {item["id"]: item for item in items}


def create(admin: Admin, **fields: Any) -> dict[str, Any]:
    fields.setdefault("id", unique_model("openai/gpt-4.1"))
    return ok(admin.http.post("/v1/admin/models", json=fields), 201)  # type: ignore[no-any-return]


def test_crud_with_a_slash_in_the_id(admin: Admin) -> None:
    model_id = unique_model("openai/gpt-4.1")
    created = create(admin, id=model_id, owned_by="openai", pricing=PRICING)
    assert created["id"] == model_id
    assert created["owned_by"] == "openai"
    assert created["pricing"] == PRICING

    for prefix in ("/v1", ""):
        fetched = ok(admin.http.get(f"{prefix}/admin/models/{model_id}"))
        assert (fetched["id"], fetched["pricing"]) == (model_id, PRICING)
    assert listed(ok(admin.http.get("/v1/admin/models")))[model_id]["pricing"] == PRICING

    patched = ok(
        admin.http.patch(
            f"/v1/admin/models/{model_id}", json={"owned_by": "acme", "pricing": {"output": 8}}
        )
    )
    assert patched["owned_by"] == "acme"
    assert patched["pricing"] == {**PRICING, "output": 8}
    assert ok(admin.http.get(f"/v1/admin/models/{model_id}"))["pricing"]["output"] == 8

    ok(admin.http.delete(f"/v1/admin/models/{model_id}"))
    expect_error(admin.http.get(f"/v1/admin/models/{model_id}"), 404)
    expect_error(admin.http.patch(f"/v1/admin/models/{model_id}", json={"owned_by": "x"}), 404)
    expect_error(admin.http.delete(f"/v1/admin/models/{model_id}"), 404)
    assert model_id not in listed(ok(admin.http.get("/v1/admin/models")))


def test_ids_with_several_slashes(admin: Admin) -> None:
    model_id = unique_model("vendor/family/variant")
    create(admin, id=model_id, pricing={"input": 1})
    assert ok(admin.http.get(f"/v1/admin/models/{model_id}"))["id"] == model_id
    ok(admin.http.delete(f"/admin/models/{model_id}"))
    expect_error(admin.http.get(f"/v1/admin/models/{model_id}"), 404)


@pytest.mark.parametrize(
    "price",
    [0, 0.000000001, 0.0375, 0.075, 0.1, 0.3, 2.5, 1.23456789, 123456.123456789, 1000000],
    ids=repr,
)
def test_prices_come_back_exactly(admin: Admin, price: float) -> None:
    pricing = {"per_request": price}
    created = create(admin, pricing=pricing)
    assert created["pricing"] == pricing
    assert ok(admin.http.get(f"/v1/admin/models/{created['id']}"))["pricing"] == pricing


@pytest.mark.parametrize(
    "price", [0, 0.0001, 0.0375, 0.075, 0.1, 2.5, 1.2345, 123456.1234, 1000000], ids=repr
)
def test_token_prices_come_back_exactly(admin: Admin, price: float) -> None:
    """Per-1M-token prices have up to four decimals, so that each token costs whole units."""
    pricing = {
        "input": price,
        "output": price,
        "cached_input": price,
        "cache_write_5m": price,
        "cache_write_1h": price,
    }
    created = create(admin, pricing=pricing)
    assert created["pricing"] == pricing


BAD_PRICING: list[Any] = [
    {"input": -1},
    {"output": -0.000000001},
    {"per_token": 1.0},
    {"input": 1e-12},
    {"input": 0.00001},
    {"output": 1.23456},
    {"cached_input": 1.00000000000005},
    {"cache_write_5m": -3.75},
    {"cache_write_5m": 3.75001},
    {"cache_write_1h": 0.00005},
    {"cache_write_1h": "six"},
    {"cache_write_1h": False},
    {"cache_write_15m": 1},
    {"input": "cheap"},
    {"input": True},
    {"input": [1]},
    {"input": {"usd": 1}},
    {"input": "NaN"},
    {"input": "Infinity"},
    "2.5",
    [2.5],
]


@pytest.mark.parametrize("pricing", BAD_PRICING, ids=repr)
def test_create_rejects_bad_pricing(admin: Admin, pricing: Any) -> None:
    model_id = unique_model("bad/price")
    response = admin.http.post("/v1/admin/models", json={"id": model_id, "pricing": pricing})
    expect_error(response, 400)
    expect_error(admin.http.get(f"/v1/admin/models/{model_id}"), 404)


@pytest.mark.parametrize("pricing", BAD_PRICING, ids=repr)
def test_patch_rejects_bad_pricing(admin: Admin, pricing: Any) -> None:
    created = create(admin, pricing={"input": 2.5, "output": 10})
    url = f"/v1/admin/models/{created['id']}"
    expect_error(admin.http.patch(url, json={"pricing": pricing}), 400)
    assert ok(admin.http.get(url))["pricing"] == {"input": 2.5, "output": 10}


def test_write_prices_patch_and_remove(admin: Admin) -> None:
    """Write prices are set, changed and removed (null: back to the input-based default)."""
    created = create(admin, pricing={"input": 3, "output": 15})
    url = f"/v1/admin/models/{created['id']}"
    patched = ok(admin.http.patch(url, json={"pricing": {"cache_write_1h": 6.5}}))
    assert patched["pricing"] == {"input": 3, "output": 15, "cache_write_1h": 6.5}
    cleared = ok(admin.http.patch(url, json={"pricing": {"cache_write_1h": None}}))
    assert cleared["pricing"] == {"input": 3, "output": 15}


@pytest.mark.parametrize(
    "body",
    [{}, {"id": ""}, {"id": 5}, {"id": None}, {"id": "model-owned-by-number", "owned_by": 3}],
    ids=repr,
)
def test_create_rejects_bad_ids_and_fields(admin: Admin, body: dict[str, Any]) -> None:
    expect_error(admin.http.post("/v1/admin/models", json=body), 400)


def test_malformed_json(admin: Admin) -> None:
    response = admin.http.post(
        "/v1/admin/models",
        content=b'{"id": "x", "pricing": {',
        headers={"content-type": "application/json"},
    )
    expect_error(response, 400)


def test_duplicate_id_conflicts(admin: Admin) -> None:
    created = create(admin, pricing={"input": 1})
    response = admin.http.post(
        "/v1/admin/models", json={"id": created["id"], "pricing": {"input": 9}}
    )
    expect_error(response, 409)
    assert ok(admin.http.get(f"/v1/admin/models/{created['id']}"))["pricing"] == {"input": 1}


def test_a_model_says_whether_it_reasons(admin: Admin) -> None:
    reasoning = create(admin, pricing={"input": 1})
    assert reasoning["reasoning"] is True  # unknown: reasoning, as before the field existed
    model_id = create(admin, pricing={"input": 1}, reasoning=False)["id"]
    assert ok(admin.http.get(f"/v1/admin/models/{model_id}"))["reasoning"] is False
    assert listed(ok(admin.http.get("/v1/admin/models")))[model_id]["reasoning"] is False
    patched = ok(admin.http.patch(f"/v1/admin/models/{model_id}", json={"reasoning": True}))
    assert patched["reasoning"] is True
    for bad in ("no", 1, None):
        expect_error(admin.http.patch(f"/v1/admin/models/{model_id}", json={"reasoning": bad}), 400)
    assert ok(admin.http.get(f"/v1/admin/models/{model_id}"))["reasoning"] is True
