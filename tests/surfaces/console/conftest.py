"""Fixtures of the console tests: browsers (cookie jars) against the module's gateway, with
sign-up open; a gateway that sends mail to a real SMTP server on loopback."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes.smtp_sink import SmtpSink
from support.admin import Admin
from support.console import PUBLIC_URL, Console, open_registration
from support.gateway import Gateway
from surfaces.console.browser_kit import CHROMIUM, missing

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def registration(admin: Admin) -> None:
    open_registration(admin.http)


@pytest.fixture
def browser(gateway: Gateway, registration: None) -> Iterator[Callable[[], Console]]:
    """Opens as many browsers as a test needs; closed at its end."""
    opened: list[Console] = []

    def open_one() -> Console:
        console = Console(gateway.url)
        opened.append(console)
        return console

    yield open_one
    for console in opened:
        console.close()


@pytest.fixture(scope="module")
def gateway_url(gateway: Gateway) -> str:
    return gateway.url


@pytest.fixture(scope="module")
def admin_key(gateway: Gateway) -> str:
    return gateway.admin_key


@pytest.fixture(scope="module")
def chromium(gateway: Gateway) -> Iterator[Any]:
    """The browser, started after the gateway: Playwright's sync API keeps an event loop
    running in this thread, where the gateway's set-up (asyncio.run) could no longer run.
    Skipped where chromium or the built console is missing, except under CI=true."""
    reason = missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where the module's screenshots go: a folder named after it in
    ``AIRELAY_TEST_ARTIFACTS``, else in one folder of the checkout (git-ignored) that each
    run overwrites, so the last run's pages can be looked at. (Modules run in parallel
    workers: one folder each keeps two from writing the same file.)"""
    configured = os.environ.get("AIRELAY_TEST_ARTIFACTS")
    path = (Path(configured) if configured else ARTIFACTS) / request.path.stem
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="module")
def mail_gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpSink
) -> Iterator[Gateway]:
    """A gateway with an SMTP server (plain, no login) and a public URL, sign-up open."""
    with Gateway(
        database_url,
        tmp_path_factory.mktemp("mail"),
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from="relay@example.com",
    ) as running:
        admin = Admin(running.url, running.admin_key)
        open_registration(admin.http)
        admin.close()
        yield running
