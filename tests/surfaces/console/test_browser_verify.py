"""E-mail verification in a real browser: the operator turns it on in the settings page;
then sign-up shows the "check your mail" step (in English and in Chinese), which sends the
link again; signing in before the link is opened comes back to it; the mailed link
verifies the address, and the account then signs in to its dashboard. Skipped like
``test_browser``."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import PASSWORD, link_token, new_email
from support.gateway import Gateway
from surfaces.admin_kit import ok
from surfaces.console.browser_kit import operator_sign_in


@pytest.fixture(scope="module")
def chromium(mail_gateway: Gateway, chromium: Any) -> Any:
    """The shared browser, started once the mail gateway is up (see ``conftest``)."""
    return chromium


@pytest.fixture(scope="module")
def verifying(chromium: Any, mail_gateway: Gateway) -> None:
    """The operator turns verification on in the settings page."""
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    operator_sign_in(page, mail_gateway.url, mail_gateway.admin_key)
    page.click("#nav-settings")
    page.check("#settings-form input[name=email_verification]")
    page.click("#settings-form button[type=submit]")
    page.wait_for_selector("text=Saved")
    context.close()
    admin = Admin(mail_gateway.url, mail_gateway.admin_key)
    features = ok(admin.http.get("/v1/admin/settings"))["features"]
    admin.close()
    assert features["email_verification"] is True and features["registration_enabled"] is True


def _sign_up(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/console/")
    page.click("#to-signup")
    page.fill("#signup-form input[name=email]", email)
    page.fill("#signup-form input[name=password]", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("#check-mail")


def test_sign_up_waits_for_the_mailed_link(
    chromium: Any, verifying: None, mail_gateway: Gateway, smtp: SmtpSink
) -> None:
    context = chromium.new_context(locale="en-US")
    page = context.new_page()
    email = new_email()
    _sign_up(page, mail_gateway.url, email)
    assert page.text_content("#check-mail h2") == "Check your mail"
    assert email in (page.text_content("#check-mail-text") or "")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.set_viewport_size({"width": 1280, "height": 900})
    first = link_token(smtp.wait_for(email), "verify")
    page.click("#check-mail button[type=submit]")
    page.wait_for_selector("text=a new link is on its way")
    # Signing in before the link is opened comes back to the same step.
    page.goto(f"{mail_gateway.url}/console/")
    page.fill("#login-form input[name=email]", email)
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#check-mail")
    # The link (on the gateway's public URL; here the test's own address).
    opened = context.new_page()
    opened.goto(f"{mail_gateway.url}/console/#verify={first}")
    opened.wait_for_selector("text=Your e-mail address is verified")
    assert "verify=" not in opened.url
    opened.fill("#login-form input[name=email]", email)
    opened.fill("#login-form input[name=password]", PASSWORD)
    opened.click("#login-form button[type=submit]")
    opened.wait_for_selector("#balance")
    context.close()
    # Opened again (in a browser not signed in), the link says it is spent.
    elsewhere = chromium.new_context(locale="en-US")
    again = elsewhere.new_page()
    again.goto(f"{mail_gateway.url}/console/#verify={first}")
    again.wait_for_selector("text=not valid, expired or used already")
    elsewhere.close()


def test_the_step_in_chinese(chromium: Any, verifying: None, mail_gateway: Gateway) -> None:
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    email = new_email()
    _sign_up(page, mail_gateway.url, email)
    assert page.text_content("#check-mail h2") == "请查收邮件"
    assert page.text_content("#check-mail button[type=submit]") == "重新发送链接"
    context.close()
