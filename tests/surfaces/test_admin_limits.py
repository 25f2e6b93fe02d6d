"""Management API: input at the edges of what the store can hold. The house rule is that bad
input gets a clear 400, never a 500, on SQLite and PostgreSQL alike: the gateway may accept
a value or refuse it, but it must not fail on it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok

BOTH = frozenset({"sqlite", "postgresql"})
PG = frozenset({"postgresql"})
LONG = "x" * 1000


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    # Backends on which the gateway answers 500 today (see the reason).
    fails_on: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""


TOO_MANY_UNITS = (
    "USD amounts become integer units (money.py) in a BIGINT column; past what int64 holds "
    "(about $922 million at 1e-10 USD units) the insert raises (OverflowError on SQLite, "
    "asyncpg DataError on PostgreSQL) -> 500"
)
INT32 = "an Integer column is int32 on PostgreSQL; a larger value fails the insert -> 500"
VARCHAR = "a String(n) column: PostgreSQL refuses a longer value (SQLite stores it) -> 500"
NUL = "PostgreSQL text cannot hold U+0000; asyncpg raises on the insert -> 500"

CASES = [
    Case("user balance 1e12", "POST", "/v1/admin/users", {"balance": 1e12}, BOTH, TOO_MANY_UNITS),
    Case("token quota 1e12", "POST", "/v1/admin/tokens", {"quota": 1e12}, BOTH, TOO_MANY_UNITS),
    Case(
        "channel priority 2**70",
        "POST",
        "/v1/admin/channels",
        {"priority": 2**70},
        BOTH,
        "the integer exceeds int64 on both backends -> 500",
    ),
    Case(
        "users page 1e20",
        "GET",
        "/v1/admin/users?page=100000000000000000000",
        None,
        BOTH,
        "(page - 1) * limit is passed as OFFSET and overflows int64 -> 500",
    ),
    Case("channel priority 2**40", "POST", "/v1/admin/channels", {"priority": 2**40}, PG, INT32),
    Case("channel weight 2**40", "POST", "/v1/admin/channels", {"weight": 2**40}, PG, INT32),
    Case("token rpm 2**40", "POST", "/v1/admin/tokens", {"rpm": 2**40}, PG, INT32),
    Case("channel name 1000 chars", "POST", "/v1/admin/channels", {"name": LONG}, PG, VARCHAR),
    Case(
        "channel base_url 1000 chars",
        "POST",
        "/v1/admin/channels",
        {"base_url": "https://" + LONG},
        PG,
        VARCHAR,
    ),
    Case("user name 1000 chars", "POST", "/v1/admin/users", {"name": LONG}, PG, VARCHAR),
    Case("user group 1000 chars", "POST", "/v1/admin/users", {"group": LONG}, PG, VARCHAR),
    Case("model id 1000 chars", "POST", "/v1/admin/models", {"id": LONG}, PG, VARCHAR),
    Case("model owned_by 1000 chars", "POST", "/v1/admin/models", {"owned_by": LONG}, PG, VARCHAR),
    Case("token name 1000 chars", "POST", "/v1/admin/tokens", {"name": LONG}, PG, VARCHAR),
    Case("channel name with NUL", "POST", "/v1/admin/channels", {"name": "a\u0000b"}, PG, NUL),
    Case("user name with NUL", "POST", "/v1/admin/users", {"name": "a\u0000b"}, PG, NUL),
    # These pass today; they guard the same rule.
    Case("channel timeout 1e400", "POST", "/v1/admin/channels", {"timeout": "1e400"}),
    Case("price 1e400", "POST", "/v1/admin/models", {"pricing": {"input": "1e400"}}),
    Case(
        "rpm per settings 2**64",
        "PATCH",
        "/v1/admin/settings",
        {"rate_limits": {"requests_per_minute": 2**64}},
    ),
    Case(
        "token expiry in year 9999",
        "POST",
        "/v1/admin/tokens",
        {"expires_at": "9999-12-31T23:59:59Z"},
    ),
    Case("users page 1e13", "GET", "/v1/admin/users?page=10000000000000", None),
    Case("long unknown user id", "GET", "/v1/admin/users/" + "u" * 300, None),
]


@pytest.fixture(scope="module")
def user_id(admin: Admin) -> str:
    return str(admin.create_user()["id"])


def backend(gateway: Gateway) -> str:
    return "sqlite" if gateway.settings.database_url.startswith("sqlite") else "postgresql"


def full_body(case: Case, user_id: str) -> dict[str, Any]:
    assert case.body is not None
    base: dict[str, Any] = {
        "/v1/admin/users": {},
        "/v1/admin/tokens": {"user_id": user_id},
        "/v1/admin/channels": {"name": "edge", "status": "disabled"},
        "/v1/admin/models": {"id": unique_model("edge")},
        "/v1/admin/settings": {},
    }[case.path]
    return {**base, **case.body}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_never_a_server_error(
    request: pytest.FixtureRequest, admin: Admin, gateway: Gateway, user_id: str, case: Case
) -> None:
    del request
    content = None
    if case.body is not None:
        # Numbers such as 1e400 go on the wire as written, not as Python would encode them.
        content = json.dumps(full_body(case, user_id)).replace('"1e400"', "1e400")
    response = admin.http.request(
        case.method, case.path, content=content, headers={"content-type": "application/json"}
    )
    if response.status_code >= 400:
        expect_error(response, response.status_code)
    assert response.status_code < 500, (response.status_code, response.text)
    ok(admin.http.get("/v1/admin/settings"))  # and the gateway still serves


# -- what DESIGN.md promises that the gateway does not do yet


@pytest.mark.parametrize(
    ("kind", "base_url"),
    [
        ("anthropic", "https://api.anthropic.com"),
        ("gemini", "https://generativelanguage.googleapis.com"),
    ],
)
def test_anthropic_and_gemini_channel_types(admin: Admin, kind: str, base_url: str) -> None:
    response = admin.http.post(
        "/v1/admin/channels",
        json={"name": kind, "type": kind, "api_keys": ["k-123456789012"], "status": "disabled"},
    )
    channel = ok(response, 201)
    assert (channel["type"], channel["base_url"]) == (kind, base_url)


def test_email_uniqueness_ignores_case(admin: Admin) -> None:
    local = unique_model("ann")
    admin.create_user(email=f"{local}@Example.com")
    expect_error(admin.http.post("/v1/admin/users", json={"email": f"{local}@example.com"}), 409)
