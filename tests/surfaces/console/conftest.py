"""Fixtures of the console tests: browsers (cookie jars) against the module's gateway, with
sign-up open."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.admin import Admin
from support.console import Console, open_registration
from support.gateway import Gateway
from surfaces.console.browser_kit import CHROMIUM, missing


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
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("AIRELAY_TEST_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
