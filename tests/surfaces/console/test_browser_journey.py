"""The operator's first hour, in a real browser on a fresh gateway, with nothing but the
console: sign in with the management key at the address the gateway prints, turn sign-up
on, add a channel from a provider preset (its usual models, a fake upstream's address),
price one of its models, add a user and make that user a key (its secret shown once, with a
copy button, and working), generate a batch of codes. Then a stranger signs up in the
browser, redeems one of the codes and makes a call from the playground that is answered and
billed.

Skipped where chromium or the built console is missing, except under CI=true.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openai
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin
from support.console import new_email
from support.gateway import Gateway
from surfaces.admin_kit import UPSTREAM_KEY, ok
from surfaces.console.browser_kit import operator_sign_in, shoot, sign_up

MODEL = "deepseek-chat"  # one of the deepseek preset's usual models


def _dollars(text: str | None) -> float:
    match = re.search(r"\$(\d+\.\d+)", text or "")
    assert match, text
    return float(match.group(1))


def test_a_new_operator_sets_up_the_gateway_and_a_stranger_calls_it(
    chromium: Any,
    gateway: Gateway,
    admin: Admin,
    upstream: FakeOpenAI,
    artifacts: Path,
) -> None:
    # Fresh: no user, no channel, no price, and sign-up closed.
    assert ok(admin.http.get("/v1/admin/users"))["total"] == 0
    assert ok(admin.http.get("/v1/admin/channels"))["channels"] == []
    assert ok(admin.http.get("/v1/admin/settings"))["features"]["registration_enabled"] is False

    context = chromium.new_context(locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=gateway.url)
    page = context.new_page()
    page.goto(f"{gateway.url}/console/")
    assert page.query_selector("#to-signup") is None  # sign-up is closed
    operator_sign_in(page, None, gateway.admin_key)

    # Sign-up on.
    page.click("#nav-settings")
    page.check("#settings-form input[name=registration_enabled]")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("#settings-form ~ .notice")
    assert ok(admin.http.get("/v1/admin/settings"))["features"]["registration_enabled"] is True

    # A channel from the DeepSeek preset, its models left to the preset.
    page.click("#nav-channels")
    page.click("#add-channel")
    page.fill("#channel-form input[name=name]", "DeepSeek")
    page.select_option("#channel-form select[name=type]", "deepseek")
    page.fill("#channel-form input[name=base_url]", upstream.base_url)
    page.fill("#channel-form textarea[name=api_keys]", UPSTREAM_KEY)
    page.click("#channel-form button[type=submit]")
    page.wait_for_selector(f"#channels-table td:has-text('{MODEL}')")
    (channel,) = ok(admin.http.get("/v1/admin/channels"))["channels"]
    assert channel["type"] == "deepseek" and MODEL in channel["models"]
    assert channel["base_url"] == upstream.base_url

    # Its price.
    page.click("#nav-models")
    page.fill("#price-form input[name=id]", MODEL)
    page.fill("#price-form input[name=input]", "1000")
    page.fill("#price-form input[name=output]", "1000")
    page.click("#price-form button[type=submit]")
    page.wait_for_selector(f"#models-table tr[data-model='{MODEL}']")
    assert ok(admin.http.get(f"/v1/admin/models/{MODEL}"))["pricing"] == {
        "input": 1000,
        "output": 1000,
    }

    # A user with an opening balance, and a key for that user: the form opens at once.
    customer = new_email()
    page.click("#nav-users")
    page.click("#add-user")
    page.fill("#user-add-form input[name=email]", customer)
    page.fill("#user-add-form input[name=balance]", "2")
    page.click("#user-add-form button[type=submit]")
    page.wait_for_selector(f"#users-table td:has-text('{customer}')")
    page.fill("#user-key-form input[name=name]", "ci")
    page.click("#user-key-form button[type=submit]")
    secret = page.text_content("#issued-key-secret", timeout=10_000) or ""
    assert secret.startswith("sk-") and customer in (page.text_content("#issued-key") or "")
    page.click("#copy-issued-key")
    page.wait_for_selector("#copy-issued-key:text-is('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shoot(page, artifacts, "journey-key-issued")
    page.click("#issued-key button:text-is('Done')")
    page.reload()
    page.wait_for_selector(f"#users-table td:has-text('{customer}')")
    assert secret not in page.content()  # shown once
    (user,) = ok(admin.http.get("/v1/admin/users", params={"q": customer}))["users"]
    assert user["balance"] == 2
    (token,) = ok(admin.http.get("/v1/admin/tokens", params={"user_id": user["id"]}))["tokens"]
    assert token["name"] == "ci" and token["status"] == "active"
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    assert answer.choices[0].message.content

    # A batch of codes.
    page.click("#nav-redemptions")
    page.fill("#codes-form input[name=name]", "welcome")
    page.fill("#codes-form input[name=amount]", "5")
    page.fill("#codes-form input[name=count]", "3")
    page.click("#codes-form button[type=submit]")
    codes = page.input_value("#issued-codes textarea", timeout=10_000).split("\n")
    assert len(codes) == 3
    page.click("#sign-out")
    page.wait_for_selector("#operator-form, #login-form")
    context.close()

    # A stranger signs up, redeems a code and calls from the playground.
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    sign_up(page, gateway.url)
    page.wait_for_selector("#balance:text-is('$0.0000')")
    page.click("#nav-topup")
    page.fill("#redeem-form input[name=code]", codes[0])
    page.click("#redeem-form button[type=submit]")
    assert "$5.0000" in (page.text_content("#redeem-result", timeout=10_000) or "")

    page.click("#nav-playground")
    page.wait_for_selector("#play-balance:text-is('$5.0000')")
    page.click("#playground-new-key button[type=submit]")
    page.wait_for_selector(
        f"#playground-form select[name=model] option:text-is('{MODEL}')", state="attached"
    )
    page.select_option("#playground-form select[name=model]", MODEL)
    page.fill("#playground-form textarea[name=prompt]", "first call")
    page.click("#playground-form button[type=submit]")
    reply = "Hello! You said: first call"
    page.wait_for_selector(f"#transcript .assistant:text-is('{reply}')", timeout=20_000)
    sent = upstream.chat_requests[-1]
    assert sent.body["model"] == MODEL and sent.body["messages"][-1]["content"] == "first call"
    page.wait_for_selector("#play-outcome:has-text('$')", timeout=20_000)
    charged = _dollars(page.text_content("#play-outcome"))
    assert charged > 0
    page.wait_for_selector("#play-balance:not(:text-is('$5.0000'))", timeout=10_000)
    assert _dollars(page.text_content("#play-balance")) <= 5 - charged + 1e-4
    shoot(page, artifacts, "journey-playground")
    context.close()
