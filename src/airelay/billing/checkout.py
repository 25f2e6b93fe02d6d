"""Stripe Checkout: open a session for a balance top-up, and credit the balance once when a
signed webhook says the session is paid.

All Stripe-specific code lives here; the HTTP faces only translate its errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson
import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from airelay.billing import ledger
from airelay.config import Settings
from airelay.money import UNITS_PER_USD
from airelay.store.db import now
from airelay.store.tables import checkout_sessions

log = logging.getLogger(__name__)

UNITS_PER_CENT = UNITS_PER_USD // 100
MIN_CENTS = 100  # $1.00: below it the card fees eat the top-up
MAX_CENTS = 1_000_000  # $10,000 per session
PRODUCT_NAME = "airelay balance top-up"
# Stripe marks a session paid on completion, or later for delayed methods (bank debits).
PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
WEBHOOK_TOLERANCE_SECONDS = 300
STRIPE_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
# Secret-looking Stripe tokens, also the masked ``sk_test_****1234`` that Stripe echoes back.
_STRIPE_SECRET = re.compile(r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+")


class InvalidAmount(ValueError):
    """The requested top-up is not a whole number of cents within the limits."""


class CheckoutFailed(Exception):
    """Stripe refused or could not be reached; the message is safe to show to a client."""


class InvalidWebhook(ValueError):
    """The webhook's signature, timestamp or body is not acceptable; safe to show."""


@dataclass(frozen=True, slots=True)
class OpenedSession:
    id: str
    url: str
    amount: int  # units


def parse_amount(value: object) -> int:
    """A top-up in USD as sent by a client (number or numeric string) → cents."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidAmount("'amount' must be a number of USD, e.g. 10 or 12.50")
    try:
        usd = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InvalidAmount("'amount' must be a number of USD, e.g. 10 or 12.50") from exc
    if not usd.is_finite():
        raise InvalidAmount("'amount' must be a finite number")
    cents = usd * 100
    if cents != cents.to_integral_value():
        raise InvalidAmount("'amount' may have at most 2 decimals (whole cents)")
    if not MIN_CENTS <= cents <= MAX_CENTS:
        raise InvalidAmount(
            f"'amount' must be between {MIN_CENTS / 100:.2f} and {MAX_CENTS / 100:.2f} USD"
        )
    return int(cents)


def _client(settings: Settings, http: aiohttp.ClientSession) -> stripe.StripeClient:
    assert settings.stripe_api_key is not None
    # The gateway's own pooled session: requests run on the event loop, nothing blocks.
    # With retries the library sends an Idempotency-Key, so a retried create opens one session.
    http_client = stripe.AIOHTTPClient(session=http, timeout=STRIPE_TIMEOUT)
    return stripe.StripeClient(
        settings.stripe_api_key,
        http_client=http_client,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=2,
    )


def _scrubbed(error: stripe.StripeError, settings: Settings) -> str:
    if isinstance(error, stripe.APIConnectionError):
        return "Stripe could not be reached; try again later"
    text = error.user_message or str(error) or type(error).__name__
    for secret in (settings.stripe_api_key, settings.stripe_webhook_secret):
        if secret:
            text = text.replace(secret, "[redacted]")
    return _STRIPE_SECRET.sub("[redacted]", text).strip()


async def open_session(
    engine: AsyncEngine,
    settings: Settings,
    http: aiohttp.ClientSession,
    *,
    user_id: str,
    cents: int,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> OpenedSession:
    """Create a Stripe Checkout Session for ``cents`` and record it as open.

    The URL is handed out only once the record exists, so every session a user can pay is
    one the webhook will find. Raises CheckoutFailed.
    """
    amount = cents * UNITS_PER_CENT
    try:
        session = await _client(settings, http).v1.checkout.sessions.create_async(
            {
                "mode": "payment",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": cents,
                            "product_data": {"name": PRODUCT_NAME},
                        },
                        "quantity": 1,
                    }
                ],
                "client_reference_id": user_id,
                "metadata": {"user_id": user_id, "amount_units": str(amount)},
                "success_url": success_url or settings.checkout_success_url,
                "cancel_url": cancel_url or settings.checkout_cancel_url,
            }
        )
    except stripe.StripeError as exc:
        log.warning("Stripe checkout for user %s failed: %s", user_id, type(exc).__name__)
        raise CheckoutFailed(_scrubbed(exc, settings)) from exc
    if not session.id or not session.url:
        raise CheckoutFailed("Stripe answered a checkout session without an id or url")
    async with engine.begin() as conn:
        await conn.execute(
            checkout_sessions.insert().values(
                id=session.id, user_id=user_id, amount=amount, status="open", created_at=now()
            )
        )
    return OpenedSession(id=session.id, url=session.url, amount=amount)


def verify_event(payload: bytes, signature: str | None, secret: str) -> Mapping[str, Any]:
    """The event of a webhook delivery, if Stripe signed it recently; else InvalidWebhook."""
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        raise InvalidWebhook(f"invalid Stripe-Signature: {exc.user_message or exc}") from exc
    except UnicodeDecodeError as exc:  # the library checks the signature over decoded text
        raise InvalidWebhook("the webhook body is not UTF-8") from exc
    # Parsed here rather than by Webhook.construct_event: that one fails with AttributeError
    # on a signed body that is JSON but not an object, and plain dicts are what we read.
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidWebhook("the webhook body is not JSON") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise InvalidWebhook("the webhook body is not a Stripe event")
    if not isinstance(event.get("type"), str):
        raise InvalidWebhook("the Stripe event has no type")
    return event


async def fulfil(engine: AsyncEngine, event: Mapping[str, Any]) -> str:
    """Credit the user of a paid checkout session, once however often it is delivered.

    Answers what happened (for logs and tests): ``credited``, ``already_credited``,
    ``ignored``, ``unpaid``, ``unknown_session``, ``mismatch``, ``unknown_user``.
    """
    if event["type"] not in PAID_EVENTS:
        return "ignored"
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str):
        log.warning("Stripe event %s carries no checkout session", event.get("id"))
        return "ignored"
    session_id: str = obj["id"]
    if obj.get("payment_status") != "paid":
        return "unpaid"
    async with engine.connect() as conn:
        query = select(checkout_sessions).where(checkout_sessions.c.id == session_id)
        row = (await conn.execute(query)).mappings().first()
    if row is None:
        log.warning("Stripe event %s for unknown checkout session %s", event.get("id"), session_id)
        return "unknown_session"
    problem = _mismatch(obj, row["user_id"], int(row["amount"]))
    if problem:
        log.error("Stripe checkout session %s not credited: %s", session_id, problem)
        return "mismatch"
    try:
        _, new = await ledger.credit(
            engine,
            user_id=row["user_id"],
            amount=int(row["amount"]),
            kind="checkout",
            reference=f"stripe:{session_id}",
            description=f"Stripe Checkout {session_id}",
        )
    except ledger.UnknownUser:
        log.error("Stripe checkout session %s belongs to a missing user", session_id)
        return "unknown_user"
    # After the credit: a crash in between leaves the session open, and the next delivery
    # finds the credit by its reference and closes it.
    async with engine.begin() as conn:
        await conn.execute(
            checkout_sessions.update()
            .where(checkout_sessions.c.id == session_id, checkout_sessions.c.status == "open")
            .values(status="completed", completed_at=now())
        )
    return "credited" if new else "already_credited"


def _mismatch(obj: Mapping[str, Any], user_id: str, amount: int) -> str | None:
    """Why the session Stripe reports is not the one we opened, or None."""
    total = obj.get("amount_total")
    if isinstance(total, bool) or not isinstance(total, int) or total * UNITS_PER_CENT != amount:
        return f"amount_total {total!r} cents, recorded {amount} units"
    if str(obj.get("currency", "")).lower() != "usd":
        return f"currency {obj.get('currency')!r}"
    reference = obj.get("client_reference_id")
    if reference is not None and reference != user_id:
        return f"client_reference_id {reference!r}, recorded user {user_id}"
    return None
