"""The authorisation matrix, from one table: every route of the router by every kind of
caller, with the status each cell must answer, in the route's own error format, never a 500.

The routes come from the router itself (``add_routes`` on a fresh application), and
``ROUTE_TABLE`` says what each kind of route expects: a route added to the gateway and not
to the table fails ``test_every_route_is_in_the_table``. One gateway per database, shared.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from aiohttp import web
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import eventually

from airelay.routes import add_routes

Kind = Literal["user", "admin", "webhook", "public", "console"]
Format = Literal["openai", "anthropic", "gemini"]
UPSTREAM_KEY = "sk-matrix-upstream-0123456789"
MESSAGES = [{"role": "user", "content": "hi"}]
CHAT = {"model": "{model}", "messages": MESSAGES}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@dataclass(frozen=True)
class Route:
    kind: Kind
    fmt: Format
    body: dict[str, Any] | None = None
    # Path parameters: {model} is a model the valid key may use; {id} a made-up id.
    params: tuple[tuple[str, str], ...] = ()


def _admin(body: dict[str, Any] | None = None, **params: str) -> Route:
    return Route("admin", "openai", body, tuple(params.items()))


# (method, path without the /v1 prefix) -> what the route is. The contract of each kind is
# in EXPECTED below.
ROUTE_TABLE: dict[tuple[str, str], Route] = {
    ("POST", "/chat/completions"): Route("user", "openai", CHAT),
    ("POST", "/responses"): Route("user", "openai", {"model": "{model}", "input": "hi"}),
    ("POST", "/responses/compact"): Route("user", "openai", {"model": "{model}", "input": "hi"}),
    ("POST", "/embeddings"): Route("user", "openai", {"model": "{model}", "input": "hi"}),
    ("POST", "/images/generations"): Route("user", "openai", {"model": "{model}", "prompt": "hi"}),
    # A JSON body where a form is due: the key is checked first, then the body (400).
    ("POST", "/images/edits"): Route("user", "openai", {"model": "{model}", "prompt": "hi"}),
    # A stored image: its URL is the secret; a key changes nothing (an unknown id: 404).
    ("GET", "/files/images/{id}"): Route("public", "openai", None, (("id", "nope.png"),)),
    ("POST", "/rerank"): Route(
        "user", "openai", {"model": "{model}", "query": "q", "documents": ["a"]}
    ),
    ("POST", "/audio/speech"): Route(
        "user", "openai", {"model": "{model}", "input": "hi", "voice": "alloy"}
    ),
    # JSON, not a form: the key checks come first all the same (then a 400).
    ("POST", "/audio/transcriptions"): Route("user", "openai", {"model": "{model}"}),
    ("POST", "/audio/translations"): Route("user", "openai", {"model": "{model}"}),
    ("GET", "/models"): Route("user", "openai"),
    ("POST", "/videos/generations"): Route("user", "openai", {"model": "{model}", "prompt": "hi"}),
    ("GET", "/videos/generations/{id}"): Route("user", "openai", None, (("id", "video_nope"),)),
    ("POST", "/videos"): Route("user", "openai", {"model": "{model}", "prompt": "hi"}),
    ("GET", "/videos"): Route("user", "openai"),
    ("GET", "/videos/{id}"): Route("user", "openai", None, (("id", "video_nope"),)),
    ("DELETE", "/videos/{id}"): Route("user", "openai", None, (("id", "video_nope"),)),
    ("GET", "/videos/{id}/content"): Route("user", "openai", None, (("id", "video_nope"),)),
    ("GET", "/responses/{id}"): Route("user", "openai", None, (("id", "resp_nope"),)),
    ("DELETE", "/responses/{id}"): Route("user", "openai", None, (("id", "resp_nope"),)),
    ("GET", "/responses/{id}/input_items"): Route("user", "openai", None, (("id", "resp_nope"),)),
    ("GET", "/openapi.json"): Route("public", "openai"),
    ("HEAD", "/"): Route("public", "openai"),
    ("GET", "/health"): Route("public", "openai"),
    ("GET", "/ready"): Route("public", "openai"),
    ("GET", "/metrics"): Route("public", "openai"),
    ("GET", "/models/{model}"): Route("user", "openai", None, (("model", "{model}"),)),
    ("POST", "/messages"): Route("user", "anthropic", {**CHAT, "max_tokens": 5}),
    ("POST", "/messages/count_tokens"): Route("user", "anthropic", CHAT),
    ("POST", "/models/{target}"): Route(
        "user", "gemini", GEMINI_BODY, (("target", "{model}:generateContent"),)
    ),
    ("GET", "/v1beta/models"): Route("user", "gemini"),
    ("GET", "/v1beta/models/{target}"): Route("user", "gemini", None, (("target", "{model}"),)),
    ("POST", "/v1beta/models/{target}"): Route(
        "user", "gemini", GEMINI_BODY, (("target", "{model}:generateContent"),)
    ),
    ("POST", "/billing/checkout"): Route("user", "openai", {"amount": 10}),
    ("POST", "/billing/webhook"): Route("webhook", "openai", {"id": "evt_1"}),
    ("GET", "/balance"): Route("user", "openai"),
    ("GET", "/billing/balance"): Route("user", "openai"),
    ("GET", "/usage"): Route("user", "openai"),
    ("GET", "/dashboard/billing/subscription"): Route("user", "openai"),
    ("GET", "/dashboard/billing/usage"): Route("user", "openai"),
    ("GET", "/admin/settings"): _admin(),
    ("PATCH", "/admin/settings"): _admin({}),
    ("GET", "/admin/channels"): _admin(),
    ("POST", "/admin/channels"): _admin({}),
    ("GET", "/admin/channels/{id}"): _admin(id="ch_nope"),
    ("PATCH", "/admin/channels/{id}"): _admin({}, id="ch_nope"),
    ("DELETE", "/admin/channels/{id}"): _admin(id="ch_nope"),
    ("POST", "/admin/channels/{id}/test"): _admin(id="ch_nope"),
    ("GET", "/admin/models"): _admin(),
    ("POST", "/admin/models"): _admin({}),
    ("GET", "/admin/models/{id}"): _admin(id="vendor/nope"),
    ("PATCH", "/admin/models/{id}"): _admin({}, id="vendor/nope"),
    ("DELETE", "/admin/models/{id}"): _admin(id="vendor/nope"),
    ("GET", "/admin/users"): _admin(),
    ("POST", "/admin/users"): _admin({"email": 5}),
    ("GET", "/admin/users/{id}"): _admin(id="usr_nope"),
    ("PATCH", "/admin/users/{id}"): _admin({}, id="usr_nope"),
    ("DELETE", "/admin/users/{id}"): _admin(id="usr_nope"),
    ("GET", "/admin/tokens"): _admin(),
    ("POST", "/admin/tokens"): _admin({}),
    ("GET", "/admin/tokens/{id}"): _admin(id="tok_nope"),
    ("PATCH", "/admin/tokens/{id}"): _admin({}, id="tok_nope"),
    ("DELETE", "/admin/tokens/{id}"): _admin(id="tok_nope"),
    ("POST", "/admin/topup"): _admin({}),
    ("GET", "/admin/usage"): _admin(),
    ("GET", "/admin/usage/summary"): _admin(),
    ("GET", "/admin/redemptions"): _admin(),
    ("POST", "/admin/redemptions"): _admin({}),
    ("DELETE", "/admin/redemptions/{id}"): _admin(id="rdm_nope"),
    ("POST", "/redeem"): Route("user", "openai", {"code": "rc-nope"}),
    # The console: its pages and the routes that open a session take no key...
    ("GET", "/"): Route("public", "openai"),
    ("GET", "/console"): Route("public", "openai"),
    ("GET", "/console/{path}"): Route("public", "openai", None, (("path", "keys"),)),
    ("GET", "/console/api/config"): Route("public", "openai"),
    ("POST", "/console/api/signup"): Route("public", "openai", {}),
    ("POST", "/console/api/login"): Route("public", "openai", {}),
    ("POST", "/console/api/login/admin"): Route("public", "openai", {}),
    ("POST", "/console/api/logout"): Route("public", "openai"),
    ("POST", "/console/api/password-reset"): Route("public", "openai", {}),
    ("POST", "/console/api/password-reset/confirm"): Route("public", "openai", {}),
    ("POST", "/console/api/verify-email"): Route("public", "openai", {}),
    ("POST", "/console/api/verify-email/resend"): Route("public", "openai", {}),
    ("GET", "/console/api/oidc/start"): Route("public", "openai"),
    ("GET", "/console/api/oidc/callback"): Route("public", "openai"),
    # ... and the rest need a session: no key opens one.
    ("POST", "/console/api/login/totp"): Route("console", "openai", {}),
    ("GET", "/console/api/me"): Route("console", "openai"),
    ("POST", "/console/api/password"): Route("console", "openai", {}),
    ("POST", "/console/api/totp/setup"): Route("console", "openai"),
    ("POST", "/console/api/totp/enable"): Route("console", "openai", {}),
    ("POST", "/console/api/totp/disable"): Route("console", "openai", {}),
    ("GET", "/console/api/keys"): Route("console", "openai"),
    ("POST", "/console/api/keys"): Route("console", "openai", {}),
    ("PATCH", "/console/api/keys/{id}"): Route("console", "openai", {}, (("id", "tok_nope"),)),
    ("DELETE", "/console/api/keys/{id}"): Route("console", "openai", None, (("id", "tok_nope"),)),
    ("GET", "/console/api/usage"): Route("console", "openai"),
    ("GET", "/console/api/usage/summary"): Route("console", "openai"),
    ("GET", "/console/api/usage.csv"): Route("console", "openai"),
    ("GET", "/console/api/models"): Route("console", "openai"),
    ("POST", "/console/api/redeem"): Route("console", "openai", {}),
    ("POST", "/console/api/checkout"): Route("console", "openai", {}),
}

# Callers, and the status each kind of route answers them. "ok" is the control: the caller
# the route is for, which must get through the key checks (no 401/403) and never a 500.
CALLERS = (
    "none",
    "malformed",
    "not_bearer",
    "unknown",
    "revoked",
    "expired",
    "disabled_user",
    "wrong_ip",
    "user_key",
    "mgmt_key",
    "mgmt_in_x_api_key",
    "mgmt_in_x_goog_api_key",
    "mgmt_in_query",
    "ok",
)
EXPECTED: dict[Kind, dict[str, int | str]] = {
    "user": {
        "none": 401,
        "malformed": 401,
        "not_bearer": 401,
        "unknown": 401,
        "revoked": 401,
        "expired": 401,
        "disabled_user": 401,
        "wrong_ip": 403,
        "user_key": "ok",
        "mgmt_key": 401,
        "mgmt_in_x_api_key": 401,
        "mgmt_in_x_goog_api_key": 401,
        "mgmt_in_query": 401,
        "ok": "ok",
    },
    "admin": {
        "none": 401,
        "malformed": 401,
        "not_bearer": 401,
        "unknown": 401,
        # Any user key, whatever its state, is no management key.
        "revoked": 403,
        "expired": 403,
        "disabled_user": 403,
        "wrong_ip": 403,
        "user_key": 403,
        "mgmt_key": "ok",
        "mgmt_in_x_api_key": 401,
        "mgmt_in_x_goog_api_key": 401,
        "mgmt_in_query": 401,
        "ok": "ok",
    },
    # Stripe signs its calls; a key changes nothing, an unsigned body is refused.
    "webhook": dict.fromkeys(CALLERS, 400),
    # The API's own description: no key needed, and a key changes nothing.
    "public": dict.fromkeys(CALLERS, "ok"),
    # The console's session routes: a key, any key, is no session (what sessions may do is
    # tests/surfaces/console/test_security.py).
    "console": dict.fromkeys(CALLERS, 401),
}


def router_routes() -> list[tuple[str, str]]:
    """(method, canonical path) of every route the gateway serves, read from its router."""
    app = web.Application()
    add_routes(app.router)
    routes = []
    for route in app.router.routes():
        if route.method == "*":  # the catch-all 404/405
            continue
        routes.append((route.method, route.resource.canonical if route.resource else ""))
    return routes


def table_key(method: str, path: str) -> tuple[str, str]:
    return method, path.removeprefix("/v1") if path.startswith("/v1/") else path


ROUTER = router_routes()


@dataclass
class Keys:
    model: str
    ok: str
    revoked: str
    expired: str
    disabled_user: str
    wrong_ip: str
    other: str
    other_user: str
    other_token: str
    own_user: str


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("matrix")
    with Gateway(database_url, data_dir, stripe_webhook_secret="whsec_matrix_test") as running:
        yield running


@pytest.fixture(scope="module")
def keys(admin: Admin, upstream: FakeOpenAI) -> Keys:
    model = unique_model("matrix")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["chat", "embeddings", "images"],
    )
    user = admin.create_user(balance=10)
    ok = admin.create_token(user["id"])["key"]
    revoked = admin.create_token(user["id"])
    admin.http.delete(f"/v1/admin/tokens/{revoked['id']}").raise_for_status()
    expired = admin.create_token(user["id"], expires_at="2020-01-01T00:00:00Z")["key"]
    wrong_ip = admin.create_token(user["id"], ip_allowlist=["10.0.0.0/8", "2001:db8::/32"])["key"]
    disabled = admin.create_user(balance=10)
    disabled_key = admin.create_token(disabled["id"])["key"]
    admin.http.patch(f"/v1/admin/users/{disabled['id']}", json={"status": "disabled"})
    other = admin.create_user(balance=10)
    other_token = admin.create_token(other["id"])
    time.sleep(0.6)  # the config poll (0.5 s) makes every change visible
    return Keys(
        model=model,
        ok=ok,
        revoked=revoked["key"],
        expired=expired,
        disabled_user=disabled_key,
        wrong_ip=wrong_ip,
        other=other_token["key"],
        other_user=other["id"],
        other_token=other_token["id"],
        own_user=user["id"],
    )


@pytest.fixture(scope="module")
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def credentials(
    caller: str, kind: Kind, keys: Keys, mgmt: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters of one caller."""
    bearer = {
        "malformed": "~~ not, a; key ~~",
        "unknown": "sk-" + uuid.uuid4().hex,
        "revoked": keys.revoked,
        "expired": keys.expired,
        "disabled_user": keys.disabled_user,
        "wrong_ip": keys.wrong_ip,
        "user_key": keys.ok,
        "mgmt_key": mgmt,
        "ok": mgmt if kind == "admin" else keys.ok,
    }
    if caller == "none":
        return {}, {}
    if caller == "not_bearer":
        return {"Authorization": f"Basic {keys.ok}"}, {}
    if caller == "mgmt_in_x_api_key":
        return {"x-api-key": mgmt}, {}
    if caller == "mgmt_in_x_goog_api_key":
        return {"x-goog-api-key": mgmt}, {}
    if caller == "mgmt_in_query":
        return {}, {"key": mgmt}
    return {"Authorization": "Bearer " + bearer[caller]}, {}


def fill(text: str, model: str) -> str:
    return text.replace("{model}", model)


def request_of(method: str, path: str, route: Route, model: str) -> tuple[str, Any]:
    for name, value in route.params:
        path = path.replace("{" + name + "}", fill(value, model))
    body = route.body
    if body is not None:
        body = {k: fill(v, model) if isinstance(v, str) else v for k, v in body.items()}
    return path, body


def error_format(body: Any) -> Format | None:
    """Which of the three error shapes ``body`` has (None: none of them)."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if body.get("type") == "error" and isinstance(error, dict):
        ok = isinstance(error.get("type"), str) and isinstance(error.get("message"), str)
        return "anthropic" if ok else None
    if set(body) != {"error"} or not isinstance(error, dict):
        return None
    if {"code", "message", "status"} <= set(error) and isinstance(error["code"], int):
        return "gemini"
    if {"message", "type", "code"} <= set(error):
        return "openai"
    return None


def test_every_route_is_in_the_table() -> None:
    served = {table_key(method, path) for method, path in ROUTER}
    missing = served - set(ROUTE_TABLE)
    assert not missing, f"routes without an authorisation expectation: {sorted(missing)}"
    stale = set(ROUTE_TABLE) - served
    assert not stale, f"table rows for routes the router does not serve: {sorted(stale)}"
    assert len(ROUTER) > 60  # both prefixes of every route, and Gemini's own


@pytest.mark.parametrize(("method", "path"), ROUTER, ids=lambda v: str(v))
def test_authorization_matrix(
    http: httpx.Client, gateway: Gateway, keys: Keys, method: str, path: str
) -> None:
    route = ROUTE_TABLE[table_key(method, path)]
    url, body = request_of(method, path, route, keys.model)
    wrong: list[str] = []
    for caller in CALLERS:
        headers, params = credentials(caller, route.kind, keys, gateway.admin_key)
        response = http.request(method, url, json=body, headers=headers, params=params)
        expected = EXPECTED[route.kind][caller]
        status = response.status_code
        cell = f"{caller}: {status} {response.text[:160]}"
        if status >= 500 and status not in (501, 502, 503):
            wrong.append(cell)
        elif expected == "ok":
            if status in (401, 403):
                wrong.append(cell)
        elif status != expected:
            wrong.append(f"{cell} (expected {expected})")
        elif error_format(response.json()) != route.fmt:
            wrong.append(f"{cell} (expected the {route.fmt} error shape)")
        if not response.headers.get("x-request-id"):
            wrong.append(f"{caller}: no x-request-id")
    assert not wrong, "\n".join(wrong)


def test_usage_shows_only_own_rows(http: httpx.Client, keys: Keys) -> None:
    def call(key: str) -> str:
        response = http.post(
            "/v1/chat/completions",
            json={"model": keys.model, "messages": MESSAGES},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.text
        return response.headers["x-request-id"]

    mine, theirs = call(keys.ok), call(keys.other)

    def rows(key: str, **params: str) -> list[dict[str, Any]]:
        response = http.get("/v1/usage", headers={"Authorization": f"Bearer {key}"}, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["usage"])

    assert eventually(lambda: any(r["request_id"] == mine for r in rows(keys.ok)), 10)
    assert eventually(lambda: any(r["request_id"] == theirs for r in rows(keys.other)), 10)
    own = rows(keys.ok, limit="200")
    assert own and {r["user_id"] for r in own} == {keys.own_user}
    assert theirs not in {r["request_id"] for r in own}
    # Another user's rows cannot be asked for, by user id or by token id.
    asked = http.get(
        "/v1/usage",
        headers={"Authorization": f"Bearer {keys.ok}"},
        params={"user_id": keys.other_user},
    )
    assert asked.status_code == 403, asked.text
    by_token = rows(keys.ok, token_id=keys.other_token)
    assert by_token == []


def test_operator_ids_are_operator_only(http: httpx.Client, keys: Keys) -> None:
    headers = {"Authorization": f"Bearer {keys.ok}"}
    for method, path in (
        ("GET", f"/v1/admin/users/{keys.other_user}"),
        ("GET", f"/v1/admin/users/{keys.own_user}"),
        ("PATCH", f"/v1/admin/users/{keys.own_user}"),
        ("GET", f"/v1/admin/tokens/{keys.other_token}"),
        ("DELETE", f"/v1/admin/tokens/{keys.other_token}"),
        ("GET", f"/v1/admin/usage?user_id={keys.other_user}"),
    ):
        body = {"balance": 1000} if method == "PATCH" else None
        response = http.request(method, path, headers=headers, json=body)
        assert response.status_code == 403, (method, path, response.text)


def test_balance_is_the_callers_own(http: httpx.Client, admin: Admin, keys: Keys) -> None:
    admin.http.post(
        "/v1/admin/topup", json={"user_id": keys.other_user, "amount": 123}
    ).raise_for_status()
    mine = http.get("/v1/balance", headers={"Authorization": f"Bearer {keys.ok}"}).json()
    theirs = http.get("/v1/balance", headers={"Authorization": f"Bearer {keys.other}"}).json()
    assert theirs["balance"] > 100 > mine["balance"]
