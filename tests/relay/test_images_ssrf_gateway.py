"""SSRF through the real gateway: a chat call with an image URL, routed to a Gemini channel
(which takes images inline only, so the gateway fetches them), never connects to the
canary on loopback, and answers the one neutral 400 in the caller's error shape."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from fakes.canary import PNG, Canary
from fakes.gemini_upstream import FakeGemini
from relay.test_images_ssrf import LOOPBACK_FORMS
from support.admin import Admin, unique_model
from support.gateway import Gateway

from airelay.relay.images import FETCH_FAILED
from airelay.state import STATE

DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as running:
        yield running


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture(scope="module")
def route(admin: Admin, gemini: FakeGemini) -> tuple[str, str]:
    model = unique_model("gemini-img")
    admin.create_channel(
        type="gemini", base_url=gemini.base_url, api_keys=list(gemini.api_keys), models=[model]
    )
    return model, str(admin.create_token()["key"])


def call(gateway: Gateway, client: str, model: str, key: str, url: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if client == "openai":
        content = [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        path = "/v1/chat/completions"
        body = {"model": model, "messages": [{"role": "user", "content": content}]}
    else:
        source = (
            {"type": "base64", "media_type": "image/png", "data": url.split(",", 1)[1]}
            if url.startswith("data:")
            else {"type": "url", "url": url}
        )
        content = [{"type": "text", "text": "what is this?"}, {"type": "image", "source": source}]
        path = "/v1/messages"
        messages = [{"role": "user", "content": content}]
        body = {"model": model, "max_tokens": 20, "messages": messages}
    return httpx.post(gateway.url + path, json=body, headers=headers, timeout=30)


def error_message(response: httpx.Response, client: str) -> str:
    body = response.json()
    if client == "anthropic":
        assert body["type"] == "error", body
    return str(body["error"]["message"])


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_inline_image_reaches_gemini(
    gateway: Gateway, gemini: FakeGemini, route: tuple[str, str], client: str
) -> None:
    """The control: a call with an inline image is answered through the channel."""
    model, key = route
    response = call(gateway, client, model, key, DATA_URL)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("form", LOOPBACK_FORMS)
@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_image_url_to_loopback_is_refused(
    gateway: Gateway,
    gemini: FakeGemini,
    canary: Canary,
    route: tuple[str, str],
    client: str,
    form: str,
) -> None:
    model, key = route
    canary.reset()
    before = len(gemini.generate_requests)
    response = call(gateway, client, model, key, form.format(port=canary.port))
    assert response.status_code == 400, response.text
    assert response.headers.get("x-request-id")
    assert error_message(response, client) == FETCH_FAILED
    assert canary.connections == 0
    assert len(gemini.generate_requests) == before  # nothing was sent upstream


def _reserved(gateway: Gateway, user_id: str) -> int:
    runner = gateway._runner
    assert runner is not None
    account = runner.app[STATE].wallets._accounts.get(user_id)
    return 0 if account is None else account.reserved


def test_no_image_is_fetched_for_a_call_that_cannot_pay(
    gateway: Gateway, admin: Admin, canary: Canary, route: tuple[str, str]
) -> None:
    """Pricing and the balance check come before any image fetch: a caller who cannot pay
    gets 402 and makes the gateway fetch nothing."""
    model, _ = route
    user = admin.create_user(balance=0)
    key = str(admin.create_token(user["id"])["key"])
    canary.reset()
    response = call(gateway, "openai", model, key, f"http://127.0.0.1:{canary.port}/cat.png")
    assert response.status_code == 402, response.text
    assert canary.connections == 0


def test_a_failed_fetch_releases_the_reservation(
    gateway: Gateway, admin: Admin, canary: Canary, route: tuple[str, str]
) -> None:
    model, _ = route
    user = admin.create_user()
    key = str(admin.create_token(user["id"])["key"])
    response = call(gateway, "openai", model, key, f"http://127.0.0.1:{canary.port}/cat.png")
    assert response.status_code == 400, response.text
    assert _reserved(gateway, user["id"]) == 0
