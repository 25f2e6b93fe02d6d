"""Chromium for the console's browser tests: Debian's package driven by Playwright, skipped
where it or the built console is missing, except under CI=true (then a failure)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airelay.surfaces.console.static import DIST

CHROMIUM = Path("/usr/bin/chromium")


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return "chromium is not installed (make browser)"
    if not (DIST / "index.html").is_file():
        return "the console is not built (make console)"
    return None


def chromium_browser() -> Iterator[Any]:
    """The browser, for a module fixture. Start it after the gateways: Playwright's sync
    API keeps an event loop running in this thread, where a gateway's set-up (asyncio.run)
    could no longer run."""
    reason = _missing()
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
