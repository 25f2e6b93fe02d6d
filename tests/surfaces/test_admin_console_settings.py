"""Management API: the console's settings (``logo_url``, ``announcement``,
``topup_instructions``) are checked, stored, and shown by the console's public config;
anything else is a 400 and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.admin import Admin
from surfaces.admin_kit import expect_error, ok

FIELDS = ("logo_url", "announcement", "topup_instructions")


def config(anon: httpx.Client) -> dict[str, Any]:
    return ok(anon.get("/console/api/config"))  # type: ignore[no-any-return]


def test_defaults_are_empty_and_shown_by_the_config(admin: Admin, anon: httpx.Client) -> None:
    settings = ok(admin.http.get("/v1/admin/settings"))
    shown = config(anon)
    for field in FIELDS:
        assert isinstance(settings[field], str)
        assert shown[field] == settings[field]


@pytest.mark.parametrize(
    "logo", ["https://cdn.example.com/logo.png", "/console/logo.svg", "logo.png", ""]
)
def test_a_logo_is_https_or_a_relative_path(admin: Admin, anon: httpx.Client, logo: str) -> None:
    saved = ok(admin.http.patch("/v1/admin/settings", json={"logo_url": logo}))
    assert saved["logo_url"] == logo
    assert ok(admin.http.get("/v1/admin/settings"))["logo_url"] == logo
    assert config(anon)["logo_url"] == logo


@pytest.mark.parametrize(
    "logo",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "http://example.com/logo.png",
        "//evil.example.com/logo.png",
        "/\\evil.example.com/logo.png",
        "https://",
        'logo.png" onerror="alert(1)',
        "https://example.com/" + "a" * 2000,
        42,
        None,
        ["https://example.com/logo.png"],
    ],
)
def test_other_logos_are_400(admin: Admin, logo: Any) -> None:
    before = ok(admin.http.get("/v1/admin/settings"))["logo_url"]
    expect_error(admin.http.patch("/v1/admin/settings", json={"logo_url": logo}), 400)
    assert ok(admin.http.get("/v1/admin/settings"))["logo_url"] == before


def test_texts_are_stored_as_given_and_shown(admin: Admin, anon: httpx.Client) -> None:
    text = '<script>alert("x")</script> 维护 Sunday\nline two'
    instructions = "Wire USD to ACME Bank, reference your e-mail."
    saved = ok(
        admin.http.patch(
            "/v1/admin/settings", json={"announcement": text, "topup_instructions": instructions}
        )
    )
    assert saved["announcement"] == text and saved["topup_instructions"] == instructions
    shown = config(anon)
    assert shown["announcement"] == text and shown["topup_instructions"] == instructions
    # Other settings are left as they were by a patch of these alone.
    assert (
        ok(admin.http.patch("/v1/admin/settings", json={"announcement": ""}))["topup_instructions"]
        == instructions
    )
    assert config(anon)["announcement"] == ""


@pytest.mark.parametrize(
    "patch",
    [
        {"announcement": 1},
        {"announcement": None},
        {"announcement": {"text": "x"}},
        {"announcement": "x" * 2001},
        {"topup_instructions": False},
        {"topup_instructions": "x" * 4001},
    ],
)
def test_wrong_texts_are_400(admin: Admin, patch: dict[str, Any]) -> None:
    before = ok(admin.http.get("/v1/admin/settings"))
    expect_error(admin.http.patch("/v1/admin/settings", json=patch), 400)
    after = ok(admin.http.get("/v1/admin/settings"))
    assert {f: after[f] for f in FIELDS} == {f: before[f] for f in FIELDS}


def test_the_longest_texts_are_accepted(admin: Admin) -> None:
    saved = ok(
        admin.http.patch(
            "/v1/admin/settings",
            json={"announcement": "a" * 2000, "topup_instructions": "t" * 4000},
        )
    )
    assert len(saved["announcement"]) == 2000 and len(saved["topup_instructions"]) == 4000
    ok(admin.http.patch("/v1/admin/settings", json={"announcement": "", "topup_instructions": ""}))


def test_default_limits_edited_as_the_console_sends_them(admin: Admin) -> None:
    limits = {
        "requests_per_minute": 600,
        "tokens_per_minute": 100000,
        "requests_per_day": 0,
        "max_concurrency": 8,
    }
    saved = ok(admin.http.patch("/v1/admin/settings", json={"rate_limits": limits}))
    assert {k: saved["rate_limits"][k] for k in limits} == limits
    assert saved["rate_limits"]["groups"] == {} or isinstance(saved["rate_limits"]["groups"], dict)
    zero = dict.fromkeys(limits, 0)
    ok(admin.http.patch("/v1/admin/settings", json={"rate_limits": zero}))
