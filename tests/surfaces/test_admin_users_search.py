"""Management API: finding users by a piece of their email or name (``q``), paged like the
unfiltered list, case-insensitive, with ``%`` and ``_`` taken literally; each user carries
its console role."""

from __future__ import annotations

import uuid

from support.admin import Admin
from surfaces.admin_kit import expect_error, ok


def test_q_finds_email_and_name_substrings_case_insensitively(admin: Admin) -> None:
    tag = uuid.uuid4().hex[:8]
    by_email = admin.create_user(email=f"alice.{tag}@example.com")
    by_name = admin.create_user(
        email=f"{uuid.uuid4().hex[:8]}@example.org", name=f"Bob {tag.upper()}"
    )
    admin.create_user(email=f"{uuid.uuid4().hex[:8]}@example.net", name="somebody else")

    body = ok(admin.http.get("/v1/admin/users", params={"q": tag.upper()}))
    assert {u["id"] for u in body["users"]} == {by_email["id"], by_name["id"]}
    assert body["total"] == 2
    assert ok(admin.http.get("/v1/admin/users", params={"q": f"ALICE.{tag}"}))["total"] == 1
    assert (
        ok(admin.http.get("/v1/admin/users", params={"q": f"bob {tag}"}))["users"][0]["id"]
        == by_name["id"]
    )
    # Blank is no filter at all; a miss is an empty page, not an error.
    everyone = ok(admin.http.get("/v1/admin/users", params={"q": "  "}))
    assert everyone["total"] >= 3
    none = ok(admin.http.get("/v1/admin/users", params={"q": f"nobody-{tag}"}))
    assert none == {"users": [], "total": 0, "page": 1, "limit": 20}


def test_q_is_paged_and_combines_with_status(admin: Admin) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [admin.create_user(email=f"{i}-{tag}@example.com")["id"] for i in range(5)]
    ok(admin.http.patch(f"/v1/admin/users/{ids[0]}", json={"status": "disabled"}))
    seen: list[str] = []
    for page in (1, 2, 3):
        body = ok(admin.http.get("/v1/admin/users", params={"q": tag, "limit": 2, "page": page}))
        assert body["total"] == 5 and body["limit"] == 2 and body["page"] == page
        seen += [u["id"] for u in body["users"]]
    assert seen == ids  # oldest first, each once
    active = ok(admin.http.get("/v1/admin/users", params={"q": tag, "status": "active"}))
    assert {u["id"] for u in active["users"]} == set(ids[1:])


def test_q_wildcards_are_literal(admin: Admin) -> None:
    tag = uuid.uuid4().hex[:8]
    literal = admin.create_user(email=f"x{tag}@example.com", name=f"100%_{tag}")
    admin.create_user(email=f"y{tag}@example.com", name=f"100ab{tag}")
    body = ok(admin.http.get("/v1/admin/users", params={"q": f"100%_{tag}"}))
    assert [u["id"] for u in body["users"]] == [literal["id"]]
    assert (
        ok(admin.http.get("/v1/admin/users", params={"q": "%"}))["total"]
        == ok(admin.http.get("/v1/admin/users", params={"q": "%", "limit": 200}))["total"]
    )


def test_too_long_a_query_is_400(admin: Admin) -> None:
    expect_error(admin.http.get("/v1/admin/users", params={"q": "a" * 321}), 400)


def test_users_carry_their_role_and_the_operator_changes_group_and_role(admin: Admin) -> None:
    tag = uuid.uuid4().hex[:8]
    user = admin.create_user(email=f"role-{tag}@example.com")
    assert user["role"] == "user"
    changed = ok(
        admin.http.patch(f"/v1/admin/users/{user['id']}", json={"group": "vip", "role": "viewer"})
    )
    assert changed["group"] == "vip" and changed["role"] == "viewer"
    listed = ok(admin.http.get("/v1/admin/users", params={"q": tag}))["users"]
    assert [(u["group"], u["role"]) for u in listed] == [("vip", "viewer")]
    assert ok(admin.http.get(f"/v1/admin/users/{user['id']}"))["role"] == "viewer"
