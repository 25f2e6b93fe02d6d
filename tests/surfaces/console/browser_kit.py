"""What the browser tests share: where chromium is, the two widths every page is checked at,
the screenshot that also checks a page never scrolls sideways, and signing up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.console import PASSWORD, new_email

from airelay.surfaces.console.static import DIST

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (375, 1280)
CATALOGS = Path(__file__).resolve().parents[3] / "web" / "src" / "i18n"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return "chromium is not installed (make browser)"
    if not (DIST / "index.html").is_file():
        return "the console is not built (make console)"
    return None


def shoot(page: Any, artifacts: Path, name: str) -> None:
    """A screenshot at each width, and no sideways scrolling at any."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, (name, width, overflow)
    page.set_viewport_size({"width": 1280, "height": 900})


def catalog(lang: str) -> dict[str, str]:
    """The console's texts in ``lang`` (``en`` or ``zh``), as the page shows them."""
    texts: dict[str, str] = json.loads((CATALOGS / f"{lang}.json").read_text("utf-8"))
    return texts


def sign_up(page: Any, url: str | None, email: str | None = None) -> str:
    """A new account made through the sign-up form (at ``url``'s console, or on the page
    as it is when ``url`` is None), signed in once its dashboard shows; its e-mail."""
    if url is not None:
        page.goto(f"{url}/console/")
    email = email or new_email()
    page.click("#to-signup")
    page.fill("#signup-form input[name=email]", email)
    page.fill("#signup-form input[name=password]", PASSWORD)
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("#balance")
    return email


def operator_sign_in(page: Any, url: str | None, key: str) -> None:
    """The management key's sign-in (at ``url``'s console, or on the page as it is when
    ``url`` is None), done once the operator's users page shows."""
    if url is not None:
        page.goto(f"{url}/console/")
    page.click("#to-operator")
    page.fill("#operator-form input[name=key]", key)
    page.click("#operator-form button[type=submit]")
    page.wait_for_selector("#users-table")
