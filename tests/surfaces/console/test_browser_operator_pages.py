"""The operator's users, codes and settings pages in a real browser: find a user by a piece
of the e-mail, top up with a note, change group and role, disable; add a user and make them
a key with every limit (its secret shown once, the server's refusals in the forms); generate
a batch of codes that expire and download it and the list as CSV; set the logo, an
announcement (markup in it stays text) and the default limits; the maintenance switch turns
client calls away (503) and back. A read-only operator signs in and reads every operator
page with no write action on any. Screenshots at 375 and 1280 px, no sideways scrolling.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

import csv
import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from support.admin import Admin
from support.console import PASSWORD, Console, new_email
from support.gateway import Gateway
from surfaces.admin_kit import ok, table_dump
from surfaces.console.browser_kit import catalog, operator_sign_in, shoot, sign_up

LOCALES = {"en": "en-US", "zh": "zh-CN"}
INSTRUCTIONS = 'Wire to ACME Bank. <img src=x id=xss2 onerror="document.title=2">'
OPERATOR_PAGES = ("users", "channels", "models", "traffic", "redemptions", "settings")


def _operator(chromium: Any, gateway: Gateway) -> tuple[Any, Any]:
    context = chromium.new_context(locale="en-US", accept_downloads=True)
    page = context.new_page()
    operator_sign_in(page, gateway.url, gateway.admin_key)
    return context, page


def _dump(gateway: Gateway, table: str) -> str:
    # Playwright's sync API runs an event loop in this thread: read the database in another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(table_dump, gateway.settings.database_url, table).result()


def _download(page: Any, selector: str) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    text = Path(download.path()).read_text("utf-8")
    return download.suggested_filename, list(csv.reader(io.StringIO(text)))


def test_the_operator_finds_tops_up_regroups_and_disables_a_user(
    chromium: Any, gateway: Gateway, admin: Admin, artifacts: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    target = admin.create_user(email=f"findme-{tag}@example.com", balance=0)
    admin.create_user(email=f"other-{tag}@example.com", balance=0)
    context, page = _operator(chromium, gateway)

    page.fill("#users-search input[name=q]", f"FINDME-{tag}")
    page.click("#users-search button[type=submit]")
    rows = page.locator("#users-table tbody tr")
    # Retried until the search's answer is shown (the first, unfiltered list may still be
    # loading when the search is sent).
    expect(rows).to_have_count(1)
    assert target["email"] in rows.inner_text()

    note = f"bank transfer <b>#{tag}</b>"
    page.click("#users-table tbody tr button:has-text('Top up')")
    page.fill("#topup-form input[name=amount]", "4.5")
    page.fill("#topup-form input[name=note]", note)
    page.click("#topup-form button[type=submit]")
    page.wait_for_selector("#users-table tbody tr td:has-text('$4.5000')")
    assert ok(admin.http.get(f"/v1/admin/users/{target['id']}"))["balance"] == 4.5
    assert note in _dump(gateway, "transactions")  # the note is the ledger entry's text

    page.click("#users-table tbody tr button:has-text('Edit')")
    page.fill("#user-edit-form input[name=group]", "vip")
    page.select_option("#user-edit-form select[name=role]", "viewer")
    page.click("#user-edit-form button[type=submit]")
    page.wait_for_selector("#users-table tbody tr td:text-is('read-only operator')")
    stored = ok(admin.http.get(f"/v1/admin/users/{target['id']}"))
    assert (stored["group"], stored["role"]) == ("vip", "viewer")
    assert page.locator("#users-table tbody tr td").nth(1).inner_text() == "vip"
    shoot(page, artifacts, "operator-users-search")

    page.click("#users-table tbody tr button:has-text('Disable')")
    page.wait_for_selector("#users-table tbody tr button:has-text('Enable')")
    assert ok(admin.http.get(f"/v1/admin/users/{target['id']}"))["status"] == "disabled"

    page.fill("#users-search input[name=q]", f"nobody-{tag}")
    page.click("#users-search button[type=submit]")
    page.wait_for_selector("text=No user matches.")
    # The same search again asks anew: a user added since shows.
    admin.create_user(email=f"nobody-{tag}@example.com", balance=0)
    page.click("#users-search button[type=submit]")
    expect(rows).to_have_count(1)
    assert f"nobody-{tag}@example.com" in rows.inner_text()
    context.close()


def test_a_search_sent_while_the_first_list_loads_is_not_overwritten_by_it(
    chromium: Any, gateway: Gateway, admin: Admin
) -> None:
    # The page's first (unfiltered) list is held back until the search's answer is shown,
    # then let through: it comes back last, and the page must keep the search's answer.
    tag = uuid.uuid4().hex[:8]
    admin.create_user(email=f"wanted-{tag}@example.com", balance=0)
    admin.create_user(email=f"other-{tag}@example.com", balance=0)
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    held: list[Any] = []

    def hold_the_first_list(route: Any) -> None:
        if "q=" in route.request.url or held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/v1/admin/users?*", hold_the_first_list)
    operator_sign_in(page, gateway.url, gateway.admin_key)
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(20)  # lets Playwright hand the request to the route
    assert len(held) == 1
    page.fill("#users-search input[name=q]", f"wanted-{tag}")
    page.click("#users-search button[type=submit]")
    rows = page.locator("#users-table tbody tr")
    expect(rows).to_have_count(1)

    with page.expect_request_finished(lambda r: "q=" not in r.url and "/users?" in r.url):
        held[0].continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 100))")  # its answer handled
    assert rows.count() == 1 and f"wanted-{tag}" in rows.inner_text()
    context.close()


def test_the_operator_adds_a_user_and_makes_them_a_key_with_every_limit(
    chromium: Any, gateway: Gateway, admin: Admin, artifacts: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"added-{tag}@example.com"
    context, page = _operator(chromium, gateway)
    page.click("#add-user")
    page.fill("#user-add-form input[name=email]", email)
    page.fill("#user-add-form input[name=name]", "Ada")
    page.fill("#user-add-form input[name=group]", f"team-{tag}")
    page.fill("#user-add-form input[name=balance]", "12.5")
    page.click("#user-add-form button[type=submit]")
    # The new user's key form opens at once.
    assert email in (page.text_content("#user-key-form h3", timeout=10_000) or "")
    (user,) = ok(admin.http.get("/v1/admin/users", params={"q": email}))["users"]
    assert (user["name"], user["group"], user["balance"]) == ("Ada", f"team-{tag}", 12.5)

    form = "#user-key-form"
    page.fill(f"{form} input[name=name]", "batch jobs")
    for permission in ("images", "audio", "video", "rerank"):
        page.uncheck(f"{form} input[name=perm-{permission}]")
    page.fill(f"{form} textarea[name=models]", "model-a\nmodel-b")
    page.fill(f"{form} textarea[name=ip_allowlist]", "10.0.0.0/8\n192.0.2.7")
    page.fill(f"{form} input[name=quota]", "5")
    page.select_option(f"{form} select[name=quota_period]", "monthly")
    page.fill(f"{form} input[name=rpm]", "30")
    page.fill(f"{form} input[name=tpm]", "40000")
    page.fill(f"{form} input[name=max_concurrency]", "2")
    page.fill(f"{form} input[name=expires_at]", "2099-01-31")
    page.click(f"{form} button[type=submit]")
    secret = page.text_content("#issued-key-secret", timeout=10_000) or ""
    assert secret.startswith("sk-")
    shoot(page, artifacts, "operator-user-key-issued")
    (token,) = ok(admin.http.get("/v1/admin/tokens", params={"user_id": user["id"]}))["tokens"]
    assert {k: token[k] for k in ("name", "permissions", "models", "ip_allowlist")} == {
        "name": "batch jobs",
        "permissions": ["chat", "embeddings"],
        "models": ["model-a", "model-b"],
        "ip_allowlist": ["10.0.0.0/8", "192.0.2.7"],
    }
    limits = ("quota", "quota_period", "rpm", "tpm", "max_concurrency", "expires_at")
    assert tuple(token[k] for k in limits) == (5, "monthly", 30, 40000, 2, "2099-01-31T00:00:00Z")
    # The key is the user's, and the allow-list holds: this address is not on it.
    refused = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 403, refused.text
    page.click("#issued-key button:has-text('Done')")
    assert page.query_selector("#issued-key") is None and secret not in page.content()

    # The server's refusals show in the forms: a taken e-mail, an address that is none.
    page.click("#add-user")
    page.fill("#user-add-form input[name=email]", email.upper())
    page.click("#user-add-form button[type=submit]")
    assert "exists" in (page.text_content("#user-add-form .error", timeout=10_000) or "")
    page.click("#user-add-form button:has-text('Cancel')")
    row = f"#users-table tr[data-user='{user['id']}']"
    page.fill("#users-search input[name=q]", email)
    page.click("#users-search button[type=submit]")
    page.click(f"{row} button.user-new-key")
    page.fill(f"{form} input[name=name]", "second")
    page.fill(f"{form} textarea[name=ip_allowlist]", "not an address")
    page.click(f"{form} button[type=submit]")
    error = page.text_content(f"{form} .error", timeout=10_000) or ""
    assert "no address or network" in error
    page.click(f"{form} button:has-text('Cancel')")
    page.wait_for_selector(form, state="detached")
    assert ok(admin.http.get("/v1/admin/tokens", params={"user_id": user["id"]}))["total"] == 1
    context.close()


def test_codes_expire_and_export_as_csv(
    chromium: Any, gateway: Gateway, admin: Admin, artifacts: Path
) -> None:
    batch = f"spring-{uuid.uuid4().hex[:6]}"
    context, page = _operator(chromium, gateway)
    page.click("#nav-redemptions")
    page.fill("#codes-form input[name=name]", batch)
    page.fill("#codes-form input[name=amount]", "2.5")
    page.fill("#codes-form input[name=count]", "3")
    page.fill("#codes-form input[name=expires_at]", "2099-06-30")
    page.click("#codes-form button[type=submit]")
    shown = page.input_value("#issued-codes textarea", timeout=10_000).split("\n")
    assert len(shown) == 3

    name, rows = _download(page, "#codes-batch-csv")
    assert name == f"codes-{batch}.csv"
    assert rows[0] == ["code", "amount_usd", "batch", "expires_at"]
    assert [r[0] for r in rows[1:]] == shown
    assert {tuple(r[1:]) for r in rows[1:]} == {("2.5", batch, "2099-06-30T00:00:00Z")}
    shoot(page, artifacts, "operator-codes-batch")

    page.wait_for_selector(f"#codes-table tr:has-text('{batch}') td:has-text('2099-06-30')")
    listed = ok(admin.http.get("/v1/admin/redemptions", params={"name": batch}))["redemptions"]
    assert {r["expires_at"] for r in listed} == {"2099-06-30T00:00:00Z"}

    # One code disabled in the page; the list export carries every page, hints only.
    page.click(f"#codes-table tr:has-text('{batch}') >> nth=0 >> button:has-text('Disable')")
    page.wait_for_selector(f"#codes-table tr:has-text('{batch}') td:text-is('disabled')")
    name, rows = _download(page, "#codes-list-csv")
    assert name == "redemption-codes.csv"
    header, body = rows[0], rows[1:]
    assert header[:5] == ["id", "batch", "code_hint", "amount_usd", "status"]
    mine = [r for r in body if r[1] == batch]
    assert len(mine) == 3
    assert sorted(r[4] for r in mine) == ["active", "active", "disabled"]
    assert all(r[5] == "2099-06-30T00:00:00Z" for r in mine)
    total = ok(admin.http.get("/v1/admin/redemptions", params={"limit": 1}))["total"]
    assert len(body) == total
    exported = "\n".join(",".join(r) for r in body)
    assert not any(code in exported for code in shown)  # the codes are never stored

    page.select_option("#codes-status", "disabled")
    page.wait_for_selector("#codes-table tbody tr td:text-is('active')", state="detached")
    name, rows = _download(page, "#codes-list-csv")
    assert {r[4] for r in rows[1:]} == {"disabled"}
    context.close()


def test_settings_show_the_logo_an_inert_announcement_and_default_limits(
    chromium: Any, gateway: Gateway, admin: Admin, registration: None, artifacts: Path
) -> None:
    hostile = '<img src=x id=xss onerror="document.title=1"> Maintenance on Sunday'
    context, page = _operator(chromium, gateway)
    page.click("#nav-settings")
    page.fill("#settings-form input[name=logo_url]", "javascript:alert(1)")
    page.click("#settings-form button[type=submit]")
    assert "logo_url" in (page.text_content("#settings-form .error", timeout=10_000) or "")
    assert page.query_selector("#logo") is None

    page.fill("#settings-form input[name=logo_url]", "/console/favicon.svg")
    page.fill("#settings-form textarea[name=announcement]", hostile)
    page.fill("#settings-form textarea[name=topup_instructions]", INSTRUCTIONS)
    page.fill("#settings-form input[name=requests_per_minute]", "120")
    page.fill("#settings-form input[name=tokens_per_minute]", "50000")
    page.fill("#settings-form input[name=requests_per_day]", "0")
    page.fill("#settings-form input[name=max_concurrency]", "4")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("#settings-form ~ .notice")
    page.wait_for_selector("#announcement")
    assert page.get_attribute("#logo", "src") == "/console/favicon.svg"
    settings = ok(admin.http.get("/v1/admin/settings"))
    limits = {k: settings["rate_limits"][k] for k in ("requests_per_minute", "tokens_per_minute")}
    assert limits == {"requests_per_minute": 120, "tokens_per_minute": 50000}
    assert settings["rate_limits"]["max_concurrency"] == 4
    assert settings["topup_instructions"] == INSTRUCTIONS
    shoot(page, artifacts, "operator-settings")
    context.close()

    # Every signed-in user sees the announcement, as text.
    user_context = chromium.new_context(locale="en-US")
    user_page = user_context.new_page()
    sign_up(user_page, gateway.url)
    assert user_page.text_content("#announcement") == hostile
    assert user_page.query_selector("#xss") is None and user_page.title() != "1"
    assert user_page.get_attribute("#logo", "src") == "/console/favicon.svg"
    shoot(user_page, artifacts, "user-announcement")
    # No Stripe here: the top-up page shows the operator's instructions, as text.
    user_page.click("#nav-topup")
    assert user_page.text_content("#topup-instructions", timeout=10_000) == INSTRUCTIONS
    assert user_page.query_selector("#xss2") is None and user_page.title() != "2"
    user_context.close()
    ok(
        admin.http.patch(
            "/v1/admin/settings",
            json={
                "logo_url": "",
                "announcement": "",
                "topup_instructions": "",
                "rate_limits": dict.fromkeys(
                    ("requests_per_minute", "tokens_per_minute", "max_concurrency"), 0
                ),
            },
        )
    )


def _visible_buttons(page: Any) -> list[str]:
    return [
        (b.inner_text() or "").strip()
        for b in page.query_selector_all("main button")
        if b.is_visible()
    ]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_read_only_operator_reads_every_page_and_sees_no_write_action(
    chromium: Any, gateway: Gateway, admin: Admin, browser: Any, artifacts: Path, lang: str
) -> None:
    # Something on every page to read.
    someone = admin.create_user(email=f"listed-{uuid.uuid4().hex[:8]}@example.com")
    batch = f"ro-{lang}"
    ok(admin.http.post("/v1/admin/redemptions", json={"amount": 1, "count": 1, "name": batch}), 201)
    email = new_email()
    console: Console = browser()
    assert console.sign_up(email).status_code == 201
    viewer_id = console.call("GET", "/me").json()["user"]["id"]
    ok(admin.http.patch(f"/v1/admin/users/{viewer_id}", json={"role": "viewer"}))

    context = chromium.new_context(locale=LOCALES[lang], accept_downloads=True)
    page = context.new_page()
    page.goto(f"{gateway.url}/console/")
    page.fill("#login-form input[name=email]", email)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#nav-users")
    # Reads allowed: pager, search, filters, CSV export; nothing else.
    texts = catalog(lang)
    allowed = {texts[k] for k in ("pager.prev", "pager.next", "users.search", "usage.filter")} | {
        texts["codes.list_csv"]
    }
    # Every operator page the nav offers (a page added later is covered too).
    offered = [
        (a.get_attribute("id") or "").removeprefix("nav-")
        for a in page.query_selector_all("nav a[data-scope=operator]")
    ]
    assert set(OPERATOR_PAGES) <= set(offered), offered
    for name in offered:
        page.click(f"#nav-{name}")
        page.wait_for_selector(f"#nav-{name}.active")
        page.wait_for_load_state("networkidle")
        assert page.query_selector("main .error") is None, (name, page.inner_text("main"))
        forms = [
            f.get_attribute("id") for f in page.query_selector_all("main form") if f.is_visible()
        ]
        assert set(forms) <= {"users-search", "traffic-range"}, (name, forms)
        buttons = _visible_buttons(page)
        assert set(buttons) <= allowed, (name, buttons)
        shoot(page, artifacts, f"readonly-{name}-{lang}")
    page.click("#nav-users")
    page.wait_for_selector(f"#users-table td:has-text('{someone['email']}')")
    page.click("#nav-redemptions")
    page.wait_for_selector(f"#codes-table td:text-is('{batch}')")
    page.click("#nav-settings")
    page.wait_for_selector("#settings-shown")
    # The server agrees: a write with the session's own CSRF token is refused.
    refused = console.http.patch(
        "/v1/admin/settings",
        json={"system_name": "taken over"},
        headers={"X-CSRF-Token": console.csrf},
    )
    assert refused.status_code == 403
    context.close()


def _models_status(gateway: Gateway, key: str, want: int) -> httpx.Response:
    """``GET /v1/models`` with ``key`` until it answers ``want`` (a setting reaches the
    snapshot within moments), or its last answer."""
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        if response.status_code == want or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_the_maintenance_switch_turns_client_calls_away_and_back(
    chromium: Any, gateway: Gateway, admin: Admin
) -> None:
    key = admin.create_token()["key"]
    assert _models_status(gateway, key, 200).status_code == 200
    context, page = _operator(chromium, gateway)
    switch = "#settings-form input[name=maintenance_mode]"
    try:
        page.click("#nav-settings")
        page.check(switch)
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#settings-form ~ .notice")
        assert ok(admin.http.get("/v1/admin/settings"))["features"]["maintenance_mode"] is True
        refused = _models_status(gateway, key, 503)
        assert refused.status_code == 503 and "maintenance" in refused.text
        # The console and the management API go on working: the switch is turned back.
        page.reload()
        page.wait_for_selector(f"{switch}:checked")
        page.uncheck(switch)
        page.click("#settings-form button[type=submit]")
        page.wait_for_selector("#settings-form ~ .notice")
        assert _models_status(gateway, key, 200).status_code == 200
    finally:
        ok(admin.http.patch("/v1/admin/settings", json={"features": {"maintenance_mode": False}}))
        context.close()
