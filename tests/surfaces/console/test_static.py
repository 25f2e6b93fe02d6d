"""The console's files as the gateway serves them (cache headers, content types, no path
out of the build), and its two string catalogs: the same keys, every key the code uses."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from support.gateway import Gateway

from airelay.surfaces.console.static import DIST

WEB = Path(__file__).resolve().parents[3] / "web"


@pytest.fixture(scope="module")
def built() -> None:
    if not (DIST / "index.html").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail("the console is not built (make console)")
        pytest.skip("the console is not built here (make console needs npm)")


def test_index_and_assets_with_their_cache_headers(gateway: Gateway, built: None) -> None:
    root = httpx.get(f"{gateway.url}/", follow_redirects=False)
    assert root.status_code == 302 and root.headers["location"] == "/console/"
    index = httpx.get(f"{gateway.url}/console/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.headers["cache-control"] == "no-cache"
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    assert index.headers["x-content-type-options"] == "nosniff"
    # The app's own routes get the page too.
    assert httpx.get(f"{gateway.url}/console/keys").text == index.text
    assets = re.findall(r"/console/assets/[\w.-]+", index.text)
    assert {Path(a).suffix for a in assets} == {".js", ".css"}
    for asset in assets:
        response = httpx.get(f"{gateway.url}{asset}")
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        kind = "javascript" if asset.endswith(".js") else "text/css"
        assert kind in response.headers["content-type"]
    for missing in (
        "/console/assets/nope.js",
        "/console/assets/%2e%2e/%2e%2e/surfaces/console/static.py",
        "/console/assets/..%2f..%2fsurfaces%2fconsole%2fstatic.py",
    ):
        response = httpx.get(f"{gateway.url}{missing}")
        assert response.status_code == 404, missing
        assert "def serve" not in response.text


def _catalog(lang: str) -> dict[str, str]:
    return dict(json.loads((WEB / "src" / "i18n" / f"{lang}.json").read_text()))


def test_the_catalogs_have_the_same_keys_and_every_key_used() -> None:
    en, zh = _catalog("en"), _catalog("zh")
    assert set(en) == set(zh)
    assert all(value.strip() for value in [*en.values(), *zh.values()])
    # Translated, not copied (names like "gpt-4o-mini" may stay as they are).
    same = {key for key in en if en[key] == zh[key]}
    assert same <= {"keys.models_hint"}, same
    for key in en:  # the same placeholders in both
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key
    used: set[str] = set()
    for source in (WEB / "src").rglob("*.js*"):
        used.update(re.findall(r'\bt\(\s*"([\w.]+)"', source.read_text()))
    assert used, 'no t("...") call found'
    assert used <= set(en), used - set(en)
