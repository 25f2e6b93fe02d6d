"""The operator's channels, prices and all-keys pages in a real browser, in each language:
a channel's health shows with its state, reason and cool-down end, per upstream key; the
edit form renames it, maps a model, changes priority, weight and endpoints and adds a key
(never shown back), then replaces the keys; the test button shows the latency; disable and
enable; a button whose call fails shows the server's message (a 404, and the 403 of an
operator made read-only meanwhile). The price table edits several
models' prices at once, removes a price, deletes a model and pages; the group multipliers
are added and removed. All keys lists every user's keys with the owner and revokes one.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, chat, ok
from surfaces.console.browser_kit import catalog, operator_sign_in, shoot, sign_up

LOCALES = {"en": "en-US", "zh": "zh-CN"}


def _operator(chromium: Any, gateway: Gateway, lang: str) -> Any:
    context = chromium.new_context(locale=LOCALES[lang])
    page = context.new_page()
    operator_sign_in(page, gateway.url, gateway.admin_key)
    return page


@pytest.fixture
def multipliers_restored(admin: Admin) -> Iterator[None]:
    before = ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    yield
    now = ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    restore: dict[str, Any] = {group: None for group in now if group not in before}
    ok(admin.http.patch("/v1/admin/settings", json={"group_multipliers": {**restore, **before}}))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_operator_edits_tests_and_toggles_a_channel(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    artifacts: Path,
    lang: str,
) -> None:
    texts = catalog(lang)
    model, upstream_model = unique_model("opch"), unique_model("upstream")
    refused = "sk-refused-" + uuid.uuid4().hex
    channel = admin.create_channel(
        name=f"ops {lang}",
        type="openai",
        base_url=upstream.base_url,
        api_keys=[refused],
        models=[model],
    )
    url = f"/v1/admin/channels/{channel['id']}"
    user = admin.create_user()
    key = admin.create_token(user["id"])["key"]
    chat(gateway.url, key, model)  # the upstream refuses the key: it is disabled a while

    page = _operator(chromium, gateway, lang)
    page.click("#nav-channels")
    row = f"#channels-table tr[data-channel='{channel['id']}']"
    page.wait_for_selector(f"{row} td:has-text('ops {lang}')")
    health = ok(admin.http.get(url))["health"]
    assert health["keys"][0]["state"] == "open" and health["keys"][0]["until"]
    shown = page.text_content(f"{row} .health") or ""
    assert texts["health.open"] in shown
    reason = health["keys"][0]["reason"]  # shown shortened, whole in its tooltip
    assert reason[:100] in shown
    titles = page.locator(f"{row} li[data-key='0'] .health-reason").get_attribute("title")
    assert titles == reason
    assert texts["health.until"].split("{")[0] in shown  # the cool-down's end, translated
    assert refused not in page.content()

    # Edit: every field of the form, and a key added to the stored one.
    page.click(f"{row} button.channel-edit")
    form = "#channel-edit-form"
    assert page.input_value(f"{form} textarea[name=api_keys]") == ""  # keys are write-only
    page.fill(f"{form} input[name=name]", f"ops {lang} edited")
    page.fill(f"{form} textarea[name=models]", f"{model}\n{upstream_model}")
    page.fill(f"{form} textarea[name=model_mapping]", f"{model}={upstream_model}")
    page.fill(f"{form} input[name=priority]", "2")
    page.fill(f"{form} input[name=weight]", "7")
    page.check(f"{form} input[name=endpoints][value=embeddings]")
    page.fill(f"{form} textarea[name=api_keys]", UPSTREAM_KEY)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{row} td:text-is('ops {lang} edited')")
    edited = ok(admin.http.get(url))
    assert edited["model_mapping"] == {model: upstream_model}
    assert edited["models"] == [model, upstream_model]
    assert (edited["priority"], edited["weight"]) == (2, 7)
    assert edited["endpoints"] == ["chat", "embeddings"]
    assert edited["api_keys"][0] == channel["api_keys"][0] and len(edited["api_keys"]) == 2
    # Each key's health by its position: the refused one still open, the new one closed.
    page.wait_for_selector(f"{row} li[data-key='1'] .health-closed")
    assert texts["health.open"] in (page.text_content(f"{row} li[data-key='0']") or "")
    assert UPSTREAM_KEY not in page.content() and refused not in page.content()
    shoot(page, artifacts, f"operator-channel-health-{lang}")

    # A bad mapping is refused in the form; then the keys are replaced by the good one.
    page.click(f"{row} button.channel-edit")
    page.fill(f"{form} textarea[name=model_mapping]", "no equals sign")
    page.click(f"{form} button[type=submit]")
    assert "no equals sign" in (page.text_content(f"{form} .error", timeout=10_000) or "")
    page.fill(f"{form} textarea[name=model_mapping]", f"{model}={upstream_model}")
    page.fill(f"{form} textarea[name=api_keys]", UPSTREAM_KEY)
    page.select_option(f"{form} select[name=keys_mode]", "replace")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(form, state="detached")
    assert len(ok(admin.http.get(url))["api_keys"]) == 1

    # Test: the upstream answers with the key; the latency shows.
    page.click(f"{row} button.channel-test")
    page.wait_for_selector(f"{row} .test-result:has-text('ms')", timeout=20_000)
    assert re.search(r"✓ [\d.]+ ms", page.text_content(f"{row} .test-result") or "")

    # Disable, enable: the button's label and the status follow.
    page.click(f"{row} button.channel-toggle:text-is('{texts['common.disable']}')")
    page.wait_for_selector(f"{row} td:text-is('{texts['status.disabled']}')")
    assert ok(admin.http.get(url))["status"] == "disabled"
    page.click(f"{row} button.channel-toggle:text-is('{texts['common.enable']}')")
    page.wait_for_selector(f"{row} td:text-is('{texts['status.active']}')")
    assert ok(admin.http.get(url))["status"] == "active"

    # A call that fails shows the server's message by its button (here: gone meanwhile).
    ok(admin.http.delete(url))
    page.click(f"{row} button.channel-toggle")
    error = page.text_content(f"{row} .action-error", timeout=10_000) or ""
    assert f"channel '{channel['id']}' not found" in error
    shoot(page, artifacts, f"operator-channels-{lang}")
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_operator_edits_prices_in_bulk_and_group_multipliers(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    artifacts: Path,
    multipliers_restored: None,
    lang: str,
) -> None:
    texts = catalog(lang)
    stem = f"bulk-{lang}-{uuid.uuid4().hex[:6]}"
    names = [f"{stem}-{i:02d}" for i in range(22)]
    for name in names:
        ok(admin.http.post("/v1/admin/models", json={"id": name, "pricing": {"input": 1}}), 201)
    ok(admin.http.patch(f"/v1/admin/models/{names[0]}", json={"pricing": {"output": 2}}))

    page = _operator(chromium, gateway, lang)
    page.click("#nav-models")
    page.fill("#models-filter", stem)
    first, second = (f"#models-table tr[data-model='{n}']" for n in names[:2])
    page.wait_for_selector(f"#models-table tbody tr:first-child[data-model='{names[0]}']")
    page.wait_for_selector(f"#models-table tbody tr:last-child[data-model='{names[19]}']")
    assert page.locator("#models-table tbody tr").count() == 20  # a page of 20 of the 22
    page.fill(f"{first} input[name=input]", "2.5")
    page.fill(f"{first} input[name=cached_input]", "0.25")
    page.fill(f"{first} input[name=cache_write_5m]", "3.125")
    page.fill(f"{first} input[name=cache_write_1h]", "5")
    page.fill(f"{first} input[name=output]", "")  # removes the price
    page.fill(f"{second} input[name=per_request]", "0.01")
    page.fill(f"{second} input[name=per_image]", '{"1024x1024": 0.04}')
    assert page.input_value(f"{first} input[name=input]") == "2.5"
    page.click("#prices-save")
    page.wait_for_selector("#prices-form .notice")
    assert ok(admin.http.get(f"/v1/admin/models/{names[0]}"))["pricing"] == {
        "input": 2.5,
        "cached_input": 0.25,
        "cache_write_5m": 3.125,
        "cache_write_1h": 5,
    }
    assert ok(admin.http.get(f"/v1/admin/models/{names[1]}"))["pricing"] == {
        "input": 1,
        "per_request": 0.01,
        "per_image": {"1024x1024": 0.04},
    }
    assert page.input_value(f"{first} input[name=input]") == "2.5"  # the saved prices show

    # A bad price: the server's message names the model; nothing else is lost.
    page.fill(f"{second} input[name=input]", "-1")
    page.click("#prices-save")
    error = page.text_content("#prices-form .error", timeout=10_000) or ""
    assert names[1] in error and "negative" in error

    # The next page; delete a model there.
    page.click(f"#prices-form .pager button:text-is('{texts['pager.next']}')")
    last = f"#models-table tr[data-model='{names[-1]}']"
    page.wait_for_selector(last)
    page.click(f"{last} button.model-delete")
    page.wait_for_selector(last, state="detached")
    assert admin.http.get(f"/v1/admin/models/{names[-1]}").status_code == 404
    shoot(page, artifacts, f"operator-prices-{lang}")

    # Group multipliers: one added, then removed.
    group = f"vip-{lang}-{uuid.uuid4().hex[:6]}"
    page.click("#multiplier-add")
    page.fill("#multipliers-form input[name=new-group-0]", group)
    page.fill("#multipliers-form input[name=new-factor-0]", "0.8")
    page.click("#multipliers-form button[type=submit]")
    page.wait_for_selector("#multipliers-saved")
    page.wait_for_selector(f"#multipliers-form [data-group='{group}']")
    assert ok(admin.http.get("/v1/admin/settings"))["group_multipliers"][group] == "0.8"
    page.fill(f"#multipliers-form input[name='m:{group}']", "0")
    page.click("#multipliers-form button[type=submit]")
    assert "positive" in (page.text_content("#multipliers-form .error", timeout=10_000) or "")
    page.click(f"#multipliers-form [data-group='{group}'] button.multiplier-remove")
    page.click("#multipliers-form button[type=submit]")
    page.wait_for_selector("#multipliers-saved")
    assert page.locator(f"#multipliers-form [data-group='{group}']").count() == 0
    assert group not in ok(admin.http.get("/v1/admin/settings"))["group_multipliers"]
    page.context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_operator_sees_and_revokes_any_users_key(
    chromium: Any, gateway: Gateway, admin: Admin, artifacts: Path, lang: str
) -> None:
    texts = catalog(lang)
    user = admin.create_user()
    token = admin.create_token(user["id"], name=f"someone's {lang}")
    page = _operator(chromium, gateway, lang)
    page.click("#nav-tokens")
    assert page.text_content("#nav-tokens") == texts["nav.tokens"]
    row = f"#tokens-table tr[data-token='{token['id']}']"
    page.wait_for_selector(row)
    cells = page.locator(f"{row} td").all_text_contents()
    assert cells[:4] == [token["name"], user["email"], token["key_hint"], texts["status.active"]]
    assert token["key"] not in page.content()
    total = ok(admin.http.get("/v1/admin/tokens"))["total"]
    assert f"{total}" in (page.text_content(".pager") or "")
    page.click(f"{row} button.token-revoke")
    page.wait_for_selector(f"{row} td:text-is('{texts['status.revoked']}')")
    assert ok(admin.http.get(f"/v1/admin/tokens/{token['id']}"))["status"] == "revoked"
    assert page.locator(f"{row} button.token-revoke").count() == 0
    shoot(page, artifacts, f"operator-all-keys-{lang}")
    page.context.close()


def test_a_refused_button_shows_the_servers_message(
    chromium: Any, gateway: Gateway, admin: Admin, registration: None
) -> None:
    """An operator made read-only while the page is open: revoking is refused (403) and the
    server's message shows by the button; the key stays active."""
    context = chromium.new_context(locale=LOCALES["en"])
    page = context.new_page()
    sign_up(page, gateway.url)
    me = page.request.get(f"{gateway.url}/console/api/me").json()["user"]
    ok(admin.http.patch(f"/v1/admin/users/{me['id']}", json={"role": "operator"}))
    page.reload()
    other = admin.create_user()
    token = admin.create_token(other["id"])
    page.click("#nav-tokens")
    row = f"#tokens-table tr[data-token='{token['id']}']"
    page.wait_for_selector(row)
    ok(admin.http.patch(f"/v1/admin/users/{me['id']}", json={"role": "viewer"}))
    page.click(f"{row} button.token-revoke")
    error = page.text_content(f"{row} .action-error", timeout=10_000)
    assert error == "This account may not use the management API."
    assert ok(admin.http.get(f"/v1/admin/tokens/{token['id']}"))["status"] == "active"
    context.close()


def test_the_channels_page_lists_newest_first_a_page_at_a_time(
    chromium: Any, gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    made = [
        admin.create_channel(
            name=f"paged {i:02d}",
            type="openai",
            base_url=upstream.base_url,
            api_keys=[UPSTREAM_KEY],
            models=[unique_model("paged")],
        )
        for i in range(21)
    ]
    total = len(ok(admin.http.get("/v1/admin/channels"))["channels"])
    assert total > 20
    page = _operator(chromium, gateway, "en")
    page.click("#nav-channels")
    rows = "#channels-table tbody tr"
    page.wait_for_selector(f"#channels-table tr[data-channel='{made[-1]['id']}']")
    assert len(page.query_selector_all(rows)) == 20
    # The newest first: the last one made heads the list, the first one made is not on it.
    assert page.get_attribute(f"{rows} >> nth=0", "data-channel") == made[-1]["id"]
    assert page.query_selector(f"#channels-table tr[data-channel='{made[0]['id']}']") is None
    page.click("section .pager button >> nth=1")  # next
    page.wait_for_selector(f"#channels-table tr[data-channel='{made[0]['id']}']")
    assert len(page.query_selector_all(rows)) == min(20, total - 20)
