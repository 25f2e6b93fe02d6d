"""Two gateway instances on one database: what the management API changes through one is
seen by the other within a few poll intervals (0.5 s in tests), including revocations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import Route, chat, eventually, expect_error, make_route, ok

# Generous against the 0.5 s poll, yet well below what a user would call "stale". Not 3 s:
# under the whole suite's load the other instance once took longer to answer with a route
# made just before (each chat call there waits on a busy machine too).
FRESHNESS_SECONDS = 10.0


@pytest.fixture(scope="module")
def second(gateway: Gateway) -> Iterator[Gateway]:
    """Another instance on the same database and data dir (hence the same secret key)."""
    with Gateway(gateway.settings.database_url, gateway.settings.data_dir) as running:
        yield running


def status_on(instance: Gateway, route: Route, model: str | None = None) -> int:
    return chat(instance.url, route.key, model or route.model).status_code


def test_new_channel_and_key_work_on_the_other_instance(
    admin: Admin, gateway: Gateway, second: Gateway, upstream: FakeOpenAI
) -> None:
    route = make_route(admin, upstream)
    assert status_on(gateway, route) == 200
    # The second instance decrypts the channel's upstream key with the shared secret.
    assert eventually(lambda: status_on(second, route) == 200, FRESHNESS_SECONDS)
    assert upstream.chat_requests[-1].api_key == "sk-upstream-test"


def test_revocation_reaches_the_other_instance(
    admin: Admin, gateway: Gateway, second: Gateway, upstream: FakeOpenAI
) -> None:
    route = make_route(admin, upstream)
    assert eventually(lambda: status_on(second, route) == 200, FRESHNESS_SECONDS)
    ok(admin.http.delete(f"/v1/admin/tokens/{route.token['id']}"))
    expect_error(chat(gateway.url, route.key, route.model), 401)
    assert eventually(lambda: status_on(second, route) == 401, FRESHNESS_SECONDS)
    expect_error(chat(second.url, route.key, route.model), 401)


def test_disabled_user_and_channel_reach_the_other_instance(
    admin: Admin, gateway: Gateway, second: Gateway, upstream: FakeOpenAI
) -> None:
    route = make_route(admin, upstream)
    assert eventually(lambda: status_on(second, route) == 200, FRESHNESS_SECONDS)

    ok(admin.http.patch(f"/v1/admin/channels/{route.channel['id']}", json={"status": "disabled"}))
    assert eventually(lambda: status_on(second, route) == 503, FRESHNESS_SECONDS)
    ok(admin.http.patch(f"/v1/admin/channels/{route.channel['id']}", json={"status": "active"}))
    assert eventually(lambda: status_on(second, route) == 200, FRESHNESS_SECONDS)

    ok(admin.http.patch(f"/v1/admin/users/{route.user['id']}", json={"status": "disabled"}))
    assert eventually(lambda: status_on(second, route) == 401, FRESHNESS_SECONDS)


def test_writes_through_either_instance_are_shared(admin: Admin, second: Gateway) -> None:
    other = Admin(second.url, second.admin_key)
    try:
        user = other.create_user(balance=3)
        assert ok(admin.http.get(f"/v1/admin/users/{user['id']}"))["balance"] == 3
        token = admin.create_token(user["id"])
        ok(other.http.delete(f"/v1/admin/tokens/{token['id']}"))
        assert ok(admin.http.get(f"/v1/admin/tokens/{token['id']}"))["status"] == "revoked"
    finally:
        other.close()
