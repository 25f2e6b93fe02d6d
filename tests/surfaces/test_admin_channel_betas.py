"""Management API: a channel's ``anthropic_betas`` rules (beta name -> replacement, or null
to strip it) are stored, shown, patched and cleared; anything else is a 400 in the
contract's shape, and so are rules on a channel type that gets no ``anthropic-beta``."""

from __future__ import annotations

from typing import Any

import pytest
from support.admin import Admin, unique_model
from surfaces.admin_kit import expect_error, ok

RULES = {"context-1m-2025-08-07": None, "fine-grained-tool-streaming-2025-05-14": "tools-2025"}


def anthropic_channel(admin: Admin, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique_model("betas"),
        "type": "anthropic",
        "base_url": "http://127.0.0.1:9",
        "api_keys": ["sk-ant-x"],
        "models": [unique_model("claude")],
        "status": "disabled",
        **fields,
    }
    return ok(admin.http.post("/v1/admin/channels", json=body), 201)  # type: ignore[no-any-return]


def test_rules_are_stored_shown_patched_and_cleared(admin: Admin) -> None:
    plain = anthropic_channel(admin)
    assert plain["anthropic_betas"] is None
    channel = anthropic_channel(admin, anthropic_betas=RULES)
    assert channel["anthropic_betas"] == RULES
    path = f"/v1/admin/channels/{channel['id']}"
    assert ok(admin.http.get(path))["anthropic_betas"] == RULES
    listed = {c["id"]: c for c in ok(admin.http.get("/v1/admin/channels"))["channels"]}
    assert listed[channel["id"]]["anthropic_betas"] == RULES
    # A patch of another field leaves them; a patch of them replaces them (normalised).
    assert ok(admin.http.patch(path, json={"weight": 3}))["anthropic_betas"] == RULES
    patched = ok(admin.http.patch(path, json={"anthropic_betas": {"a-1": " b-1 , b-2 "}}))
    assert patched["anthropic_betas"] == {"a-1": "b-1,b-2"}
    assert ok(admin.http.get(path))["anthropic_betas"] == {"a-1": "b-1,b-2"}
    assert ok(admin.http.patch(path, json={"anthropic_betas": None}))["anthropic_betas"] is None
    assert ok(admin.http.patch(path, json={"anthropic_betas": {}}))["anthropic_betas"] is None


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        (["context-1m-2025-08-07"], "object"),
        ("context-1m-2025-08-07", "object"),
        (42, "object"),
        ({"a-1": 1}, "str"),
        ({"a-1": True}, "str"),
        ({"a-1": ["b-1"]}, "str"),
        ({"a-1": {"to": "b-1"}}, "str"),
        ({"a b": None}, "not a beta name"),
        ({"a-1": "b\r\nX-Injected: 1"}, "comma-separated"),
    ],
)
def test_bad_rules_are_a_400(admin: Admin, rules: object, words: str) -> None:
    created = admin.http.post(
        "/v1/admin/channels",
        json={"name": unique_model("bad"), "type": "anthropic", "anthropic_betas": rules},
    )
    assert words in expect_error(created, 400)
    channel = anthropic_channel(admin)
    patched = admin.http.patch(
        f"/v1/admin/channels/{channel['id']}", json={"anthropic_betas": rules}
    )
    assert words in expect_error(patched, 400)


@pytest.mark.parametrize("kind", ["openai", "gemini", "bedrock"])
def test_rules_on_a_channel_that_gets_no_beta_header_are_a_400(admin: Admin, kind: str) -> None:
    created = admin.http.post(
        "/v1/admin/channels",
        json={"name": unique_model("x"), "type": kind, "anthropic_betas": RULES},
    )
    assert "anthropic channels only" in expect_error(created, 400)


def test_a_type_change_keeps_the_rules_honest(admin: Admin) -> None:
    channel = anthropic_channel(admin, anthropic_betas=RULES)
    path = f"/v1/admin/channels/{channel['id']}"
    refused = admin.http.patch(path, json={"type": "openai"})
    assert "anthropic channels only" in expect_error(refused, 400)
    assert ok(admin.http.get(path))["type"] == "anthropic"
    moved = ok(admin.http.patch(path, json={"type": "openai", "anthropic_betas": None}))
    assert moved["type"] == "openai" and moved["anthropic_betas"] is None
