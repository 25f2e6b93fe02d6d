"""Stored XSS, in a real browser: markup saved in every free-text field a user or an operator
can fill (key names, channel names, redemption batch names, top-up notes, user names, the
system name) is shown as text on every page of the console, never run nor made into an
element.

The browser is told to ignore the console's Content-Security-Policy (``bypass_csp``), so
this tests the rendering itself: were a payload inserted as markup, its handler would run
and set ``window.__xss`` (or an element with an ``xss-`` id would exist). Each page is also
checked to show the payload literally where the field is displayed.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.console import PASSWORD, Console, new_email
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, ok
from surfaces.console.browser_kit import operator_sign_in, shoot


def payload(field: str) -> str:
    """Markup that, rendered as HTML anywhere (text, attribute or URL), makes an element
    ``xss-<field>`` and sets ``window.__xss``; at most 200 characters."""
    return (
        f"\"'><img id=xss-{field} src=x onerror=\"window.__xss='{field}'\">"
        f"<svg onload=\"window.__xss='{field}'\"></svg><script>window.__xss='{field}'</script>"
    )


FIELDS = ("key", "channel", "code", "note", "name", "system")
# Where each field is displayed: (signed in as, page, selector that shows it).
SHOWN = {
    "key": ("user", "keys", "#keys-table"),
    "channel": ("operator", "channels", "#channels-table"),
    "code": ("operator", "redemptions", "#codes-table"),
    "name": ("operator", "users", "#users-table"),
    "system": ("user", "dashboard", "header"),
}


@pytest.fixture(scope="module")
def hostile(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, registration: None
) -> Iterator[dict[str, str]]:
    """A user whose every field holds markup, and the operator's records that do too; a
    call through the hostile channel so that the operator's traffic page names it."""
    assert all(len(payload(field)) <= 200 for field in FIELDS)
    email = new_email()
    console = Console(gateway.url)
    signup = console.call(
        "POST", "/signup", {"email": email, "password": PASSWORD, "name": payload("name")}
    )
    user = ok(signup, 201)["user"]
    console.csrf = signup.json()["csrf_token"]
    key = ok(console.call("POST", "/keys", {"name": payload("key")}), 201)["key"]
    model = unique_model("xss")
    admin.create_channel(
        name=payload("channel"),
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
    )
    ok(admin.http.post("/v1/admin/redemptions", json={"amount": 1, "name": payload("code")}), 201)
    topup = {"user_id": user["id"], "amount": 5, "description": payload("note")}
    ok(admin.http.post("/v1/admin/topup", json=topup))
    before = ok(admin.http.get("/v1/admin/settings"))["system_name"]
    ok(admin.http.patch("/v1/admin/settings", json={"system_name": payload("system")}))
    chat = {"model": model, "messages": [{"role": "user", "content": payload("prompt")}]}
    called = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json=chat,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert called.status_code == 200, called.text
    console.close()
    yield {"email": email}
    ok(admin.http.patch("/v1/admin/settings", json={"system_name": before}))


def _watch(page: Any) -> list[str]:
    """Dialogs a payload would open (alert and the like), recorded and dismissed."""
    opened: list[str] = []

    def on_dialog(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return opened


def _inert(page: Any, where: str, dialogs: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__xss") is None, where
    injected = page.evaluate("[...document.querySelectorAll('[id^=xss-]')].map(e => e.id)")
    assert injected == [], where
    assert dialogs == [], where


def _sweep(page: Any, role: str, artifacts: Path, dialogs: list[str]) -> set[str]:
    """Every page of the console's menu, checked; the fields each showed as text."""
    seen: set[str] = set()
    names = page.eval_on_selector_all("nav a[id^=nav-]", "links => links.map(a => a.id)")
    assert len(names) >= 6, names
    for nav in names:
        name = nav.removeprefix("nav-")
        page.click(f"#{nav}")
        page.wait_for_selector(f"#{nav}.active")
        _inert(page, f"{role}: {name}", dialogs)
        for field, (who, shown_on, selector) in SHOWN.items():
            if who == role and shown_on == name:
                page.wait_for_selector(f"{selector}:has-text('xss-{field}')", timeout=10_000)
                text = page.text_content(selector) or ""
                assert payload(field) in text, (field, text[:300])
                seen.add(field)
        if name in ("keys", "channels", "users", "redemptions", "traffic"):
            shoot(page, artifacts, f"xss-{role}-{name}")
    return seen


def test_stored_markup_is_shown_as_text_on_every_page(
    chromium: Any, gateway: Gateway, hostile: dict[str, str], artifacts: Path
) -> None:
    context = chromium.new_context(locale="en-US", bypass_csp=True)
    page = context.new_page()
    dialogs = _watch(page)
    # Proof that the browser would run an inserted payload here: the CSP is off.
    page.goto(f"{gateway.url}/console/")
    page.wait_for_selector("#login-form")
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', "
        "'<img id=probe src=x onerror=\"window.__probe=1\">')"
    )
    page.wait_for_function("window.__probe === 1")
    page.evaluate("document.getElementById('probe').remove()")
    # Crafted console links: the fragment is read by the sign-in page, never rendered.
    for crafted in (f"#error=oidc_{payload('hash')}", f"#reset={payload('reset')}"):
        page.goto(f"{gateway.url}/console/{crafted}")
        page.reload()
        page.wait_for_selector("form")
        _inert(page, crafted, dialogs)
    page.goto(f"{gateway.url}/console/")
    page.reload()

    page.fill("#login-form input[name=email]", hostile["email"])
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#balance")
    seen = _sweep(page, "user", artifacts, dialogs)
    page.click("#sign-out")
    page.wait_for_selector("#login-form")

    operator_sign_in(page, None, gateway.admin_key)
    seen |= _sweep(page, "operator", artifacts, dialogs)
    # The operator's traffic totals name the hostile channel and the user, as text.
    page.click("#nav-traffic")
    page.wait_for_selector("#traffic-channels:has-text('xss-channel')", timeout=20_000)
    assert payload("channel") in (page.text_content("#traffic-channels") or "")
    _inert(page, "operator: traffic", dialogs)
    assert seen == set(SHOWN)
    context.close()
