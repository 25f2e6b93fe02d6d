"""``/v1/billing/checkout`` (a user key opens a Stripe Checkout top-up) and
``/v1/billing/webhook`` (Stripe, authenticated by its signature, reports the payment)."""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from airelay.errors import GatewayError

if TYPE_CHECKING:
    from types import ModuleType
from airelay.relay.auth import authenticate, extract_key
from airelay.state import STATE, AppState
from airelay.surfaces.responses import json_response, read_json

log = logging.getLogger(__name__)


def _checkout() -> ModuleType:
    """The Stripe side, loaded on first use: the stripe library costs about 7 MB of memory
    that a gateway not selling through Stripe need not carry."""
    return importlib.import_module("airelay.billing.checkout")


MAX_URL_LENGTH = 2048


async def create_checkout(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    record = authenticate(
        state.cache.current, extract_key(request.headers, request.query), remote=request.remote
    )
    return await checkout_for(request, state, record.user_id)


async def checkout_for(request: web.Request, state: AppState, user_id: str) -> web.StreamResponse:
    """Open a Checkout session for ``user_id`` (a key's user, or the console's)."""
    if not state.settings.stripe_api_key:
        raise GatewayError(
            501, "Stripe checkout is not configured on this gateway (STRIPE_API_KEY is unset)."
        )
    body = await read_json(request)
    if not isinstance(body, dict):
        raise GatewayError(400, 'request body must be a JSON object like {"amount": 10}')
    if "amount" not in body:
        raise GatewayError(400, "'amount' (USD) is required")
    checkout = _checkout()
    try:
        cents = checkout.parse_amount(body["amount"])
    except checkout.InvalidAmount as exc:
        raise GatewayError(400, str(exc)) from exc
    try:
        opened = await checkout.open_session(
            state.engine,
            state.settings,
            state.http,
            user_id=user_id,
            cents=cents,
            success_url=_return_url(body, "success_url"),
            cancel_url=_return_url(body, "cancel_url"),
        )
    except checkout.CheckoutFailed as exc:
        raise GatewayError(502, f"Stripe checkout failed: {exc}") from exc
    return json_response({"url": opened.url, "session_id": opened.id})


def _return_url(body: dict[str, object], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise GatewayError(400, f"'{field}' must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GatewayError(400, f"'{field}' must be an http(s) URL")
    return value


async def stripe_webhook(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    secret = state.settings.stripe_webhook_secret
    if not secret:
        raise GatewayError(
            501,
            "Stripe webhooks are not configured on this gateway (STRIPE_WEBHOOK_SECRET is unset).",
        )
    payload = await request.read()
    checkout = _checkout()
    try:
        event = checkout.verify_event(payload, request.headers.get("Stripe-Signature"), secret)
    except checkout.InvalidWebhook as exc:
        raise GatewayError(400, str(exc)) from exc
    outcome = await checkout.fulfil(state.engine, event)
    log.info("Stripe event %s (%s): %s", event.get("id"), event["type"], outcome)
    # Every verified event is acknowledged: a session we cannot credit would not become
    # creditable by Stripe retrying it; the log says why.
    return json_response({"received": True})
