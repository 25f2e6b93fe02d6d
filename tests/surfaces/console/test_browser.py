"""The console in a real browser (Debian's chromium driven by Playwright), in each language
(the browser's own, chosen by the console): a user signs up, redeems a code, turns on
two-factor sign-in, creates a key and sees its secret once, calls the gateway with it
through the OpenAI SDK, and finds the call in the usage page; the page switches to the other
language; an operator generates codes, prices a model, adds a channel and tops up a user; a
user changes their password (a wrong current one refused, other sessions ended).
Screenshots of the main pages (sign-in, dashboard, top-up, security, keys, usage, and the
operator's users, codes, channels and settings) at phone and desktop widths are kept as
artifacts, and neither width scrolls sideways.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pyotp
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.console import PASSWORD, new_email
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY
from surfaces.console.browser_kit import catalog, operator_sign_in, shoot, sign_up

LOCALES = {"en": "en-US", "zh": "zh-CN"}
HTML_LANG = {"en": "en", "zh": "zh-CN"}
OTHER = {"en": "zh", "zh": "en"}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_user_from_sign_up_to_a_billed_call(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    registration: None,
    artifacts: Path,
    lang: str,
) -> None:
    texts = catalog(lang)
    model = unique_model("browser")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=[UPSTREAM_KEY],
        models=[model],
        price={"input": 1000, "output": 1000},  # a call costs cents: the balance shows it
    )
    batch = admin.http.post("/v1/admin/redemptions", json={"amount": 3, "count": 1}).json()
    code = batch["codes"][0]["code"]
    context = chromium.new_context(locale=LOCALES[lang])
    page = context.new_page()
    page.goto(f"{gateway.url}/console/")
    page.wait_for_selector(f"#to-operator:has-text('{texts['auth.operator']}')")
    assert page.get_attribute("html", "lang") == HTML_LANG[lang]
    shoot(page, artifacts, f"login-{lang}")
    email = sign_up(page, None)
    assert page.text_content("#balance") == "$0.0000"
    assert texts["dash.balance"] in (page.text_content("main") or "")
    shoot(page, artifacts, f"dashboard-{lang}")

    page.click("#nav-topup")
    page.fill("#redeem-form input[name=code]", code)
    page.click("#redeem-form button[type=submit]")
    assert "$3.0000" in page.text_content("#redeem-result", timeout=10_000)
    shoot(page, artifacts, f"topup-{lang}")

    page.click("#nav-security")
    page.wait_for_selector("#totp-setup")
    shoot(page, artifacts, f"security-{lang}")
    page.click("#totp-setup")
    secret = page.text_content("#totp-secret")
    assert secret
    page.fill("#totp-enable-form input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-enable-form button[type=submit]")
    page.wait_for_selector(f"button:text-is('{texts['security.totp_off']}')")
    recovery = page.input_value("#recovery-codes textarea").split("\n")
    assert len(recovery) == 10
    shoot(page, artifacts, f"security-on-{lang}")

    page.click("#nav-keys")
    page.click("#create-key")
    page.fill("#create-key-form input[name=name]", "browser key")
    page.fill("#create-key-form input[name=quota]", "5")
    page.select_option("#create-key-form select[name=quota_period]", "monthly")
    page.click("#create-key-form button[type=submit]")
    key = page.text_content("#new-key-secret", timeout=10_000)
    assert key and key.startswith("sk-")
    shoot(page, artifacts, f"keys-{lang}")
    page.click(f"#new-key button:text-is('{texts['keys.done']}')")
    page.reload()
    page.wait_for_selector("#keys-table td:has-text('browser key')")
    assert key not in page.content()  # shown once
    made = [  # this run's key (the other language's run made one too, for its own user)
        t
        for t in admin.http.get("/v1/admin/tokens", params={"limit": 100}).json()["tokens"]
        if t["name"] == "browser key" and t.get("user_email") == email
    ]
    assert [(t["quota"], t["quota_period"]) for t in made] == [(5, "monthly")]
    resets = made[0]["quota_resets_at"][:10]
    assert resets in (page.text_content("#keys-table") or "")  # the budget's window shown

    page.click("#nav-usage")  # open before the call: the filter button fetches it anew
    page.wait_for_selector("#usage-table")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    request_id = raw.headers["x-request-id"]
    deadline = time.monotonic() + 10
    while request_id not in _own_usage(gateway, key):  # the row is written in a batch
        assert time.monotonic() < deadline, "the call's usage row was never written"
        time.sleep(0.1)
    page.click(".filters button[type=submit]")  # the same filters: the rows fetched again
    page.wait_for_selector(f"#usage-table code:text-is('{request_id}')", timeout=10_000)
    shoot(page, artifacts, f"usage-{lang}")
    page.click("#nav-dashboard")
    # (The console's CSP allows no string evaluation: wait_for_function cannot run there.)
    page.wait_for_selector("#balance:not(:text-is('$3.0000'))", timeout=10_000)
    assert 2.5 < float((page.text_content("#balance") or "")[1:]) < 3  # the call was billed

    # Switched to the other language, the page is in it at once.
    other, other_texts = OTHER[lang], catalog(OTHER[lang])
    page.select_option("#language", other)
    page.wait_for_selector(f"#nav-usage:text-is('{other_texts['nav.usage']}')")
    assert page.get_attribute("html", "lang") == HTML_LANG[other]
    assert other_texts["dash.balance"] in (page.text_content("main") or "")
    shoot(page, artifacts, f"dashboard-switched-{other}")
    page.click("#nav-keys")
    page.wait_for_selector(f"th:text-is('{other_texts['keys.name']}')")
    shoot(page, artifacts, f"keys-switched-{other}")

    # Signed out, the second factor is asked for.
    page.click("#sign-out")
    page.fill("#login-form input[name=email]", email)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#totp-form")
    page.fill("#totp-form input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector("#balance")
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_operator_sets_up_codes_prices_channels_and_top_ups(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    artifacts: Path,
    lang: str,
) -> None:
    texts = catalog(lang)
    user = admin.create_user(balance=0)
    hostile = admin.create_user(
        balance=0, email=f'<img src=x id=xss onerror="document.title=1">{lang}@example.com'
    )
    context = chromium.new_context(locale=LOCALES[lang])
    page = context.new_page()
    page.goto(f"{gateway.url}/console/")
    page.wait_for_selector(f"#to-operator:has-text('{texts['auth.operator']}')")  # the browser's
    # Switched there and back on the sign-in page.
    page.select_option("#language", OTHER[lang])
    page.wait_for_selector(f"#to-operator:has-text('{catalog(OTHER[lang])['auth.operator']}')")
    page.select_option("#language", lang)
    page.wait_for_selector(f"#to-operator:has-text('{texts['auth.operator']}')")
    operator_sign_in(page, None, gateway.admin_key)
    # Stored markup in a name is shown as text, never run or rendered.
    page.wait_for_selector(f"#users-table td:has-text('{hostile['email'][:12]}')")
    assert page.query_selector("#xss") is None and page.title() != "1"
    shoot(page, artifacts, f"operator-users-{lang}")

    page.click("#nav-redemptions")
    page.fill("#codes-form input[name=amount]", "2")
    page.fill("#codes-form input[name=count]", "3")
    page.click("#codes-form button[type=submit]")
    codes = page.input_value("#issued-codes textarea", timeout=10_000).split("\n")
    assert len(codes) == 3 and all(re.fullmatch(r"rc-[0-9a-f]{32}", c) for c in codes)
    shoot(page, artifacts, f"operator-codes-{lang}")

    model = unique_model("priced")
    page.click("#nav-models")
    page.fill("#price-form input[name=id]", model)
    page.fill("#price-form input[name=input]", "1.5")
    page.fill("#price-form input[name=output]", "6")
    page.click("#price-form button[type=submit]")
    page.wait_for_selector(f"#models-table td:has-text('{model}')")
    priced = admin.http.get(f"/v1/admin/models/{model}").json()
    assert priced["pricing"]["input"] == 1.5 and priced["pricing"]["output"] == 6

    page.click("#nav-channels")
    page.click("#add-channel")
    page.fill("#channel-form input[name=name]", "browser channel")
    page.select_option("#channel-form select[name=type]", "deepseek")
    page.fill("#channel-form input[name=base_url]", upstream.base_url)
    page.fill("#channel-form textarea[name=api_keys]", UPSTREAM_KEY)
    page.fill("#channel-form textarea[name=models]", model)
    page.click("#channel-form button[type=submit]")
    page.wait_for_selector("#channels-table td:has-text('browser channel')")
    shoot(page, artifacts, f"operator-channels-{lang}")
    page.content()
    assert UPSTREAM_KEY not in page.content()  # an upstream key is never shown back

    page.click("#nav-users")
    row = f"#users-table tr:has-text('{user['email']}')"
    page.click(f"{row} button:text-is('{texts['users.topup']}')")
    page.fill("#topup-form input[name=amount]", "7")
    page.click("#topup-form button[type=submit]")
    page.wait_for_selector(f"#users-table tr:has-text('{user['email']}') td:has-text('$7.0000')")
    assert admin.http.get(f"/v1/admin/users/{user['id']}").json()["balance"] == 7

    page.click("#nav-settings")
    page.wait_for_selector("#settings-form")
    assert page.text_content("#nav-settings") == texts["nav.settings"]
    shoot(page, artifacts, f"settings-{lang}")
    context.close()


def test_a_user_changes_their_password_in_the_security_page(
    chromium: Any, gateway: Gateway, registration: None
) -> None:
    texts = catalog("en")
    email = new_email()
    context = chromium.new_context(locale=LOCALES["en"])
    page = context.new_page()
    sign_up(page, gateway.url, email)
    # Signed in elsewhere too: the change ends that session, not this one.
    elsewhere = chromium.new_context(locale=LOCALES["en"]).new_page()
    elsewhere.goto(f"{gateway.url}/console/")
    elsewhere.fill("#login-form input[name=email]", email)
    elsewhere.fill("#login-form input[name=password]", PASSWORD)
    elsewhere.click("#login-form button[type=submit]")
    elsewhere.wait_for_selector("#balance")

    form = "#password-form"
    page.click("#nav-security")
    page.fill(f"{form} input[name=current]", "not my password")
    page.fill(f"{form} input[name=new]", "a brand new passphrase")
    page.click(f"{form} button[type=submit]")
    error = page.text_content(f"{form} .error", timeout=10_000) or ""
    assert error == "The current password is wrong."
    page.fill(f"{form} input[name=current]", PASSWORD)
    page.click(f"{form} button[type=submit]")
    notice = page.text_content("#security-notice", timeout=10_000)
    assert notice == texts["security.changed"]
    assert page.input_value(f"{form} input[name=new]") == ""  # the form is cleared
    page.click("#nav-dashboard")
    page.wait_for_selector("#balance")  # this session goes on
    elsewhere.reload()
    elsewhere.wait_for_selector("#login-form")  # that one is over

    # Signed out: the old password is refused, the new one signs in.
    page.click("#sign-out")
    page.fill("#login-form input[name=email]", email)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    refused = page.text_content("#login-form .error", timeout=10_000) or ""
    assert refused == "Wrong e-mail address or password."
    page.fill("#login-form input[name=password]", "a brand new passphrase")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#balance")
    elsewhere.context.close()
    context.close()


def _own_usage(gateway: Gateway, key: str) -> str:
    """The request ids of the key's user's usage rows, as ``GET /v1/usage`` lists them."""
    answer = httpx.get(
        f"{gateway.url}/v1/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    answer.raise_for_status()
    return " ".join(row["request_id"] for row in answer.json()["usage"])
