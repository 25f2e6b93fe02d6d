"""``/v1/admin/settings``: system name, version, features, default rate limits, and what
the console shows (``logo_url``, ``announcement``, ``topup_instructions``).

Every setting it accepts is enforced: ``rate_limits`` by the relay's limit stage
(``relay.limit_policy`` says what each field counts), ``maintenance_mode`` by every client
route (503), ``registration_enabled`` by the console's sign-up, ``email_verification`` by
sign-up and sign-in (``surfaces/console/verify.py``). What the gateway cannot do is
refused with a 400 rather than stored: e-mail verification without an SMTP server and a
public URL to build its links on, and balances in any currency but USD."""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from airelay import __version__
from airelay.config import Settings
from airelay.errors import GatewayError
from airelay.mailer import mail_configured
from airelay.state import AppState
from airelay.store import settings as settings_repo
from airelay.surfaces.admin.common import admin, decode_json
from airelay.surfaces.responses import json_response

MAX_NAME = 200
MAX_LOGO_URL = 2000
MAX_ANNOUNCEMENT = 2000
MAX_TOPUP_INSTRUCTIONS = 4000
#: What the console shows: the header's logo, a banner for every signed-in user, and how to
#: pay where Stripe is not configured. Plain text (the console renders it as text, never as
#: markup); "" shows nothing.
TEXTS: dict[str, int] = {
    "announcement": MAX_ANNOUNCEMENT,
    "topup_instructions": MAX_TOPUP_INSTRUCTIONS,
}
DEFAULTS: dict[str, Any] = {
    "system_name": "airelay",
    "logo_url": "",
    "announcement": "",
    "topup_instructions": "",
    "features": {
        "registration_enabled": False,
        # New accounts prove their address (a mailed one-time link) before they sign in.
        "email_verification": False,
        "maintenance_mode": False,
        "default_currency": "USD",
    },
    # Each key's limits where it sets none of its own (0: no limit); off until set.
    "rate_limits": {
        "requests_per_minute": 0,
        "tokens_per_minute": 0,
        "requests_per_day": 0,
        "max_concurrency": 0,
        "groups": {},
        "models": {},
    },
    "group_multipliers": {},
}
_TYPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "features": {
        "registration_enabled": bool,
        "email_verification": bool,
        "maintenance_mode": bool,
        "default_currency": str,
    },
    "rate_limits": {
        "requests_per_minute": int,
        "tokens_per_minute": int,
        "requests_per_day": int,
        "max_concurrency": int,
        "groups": dict,
        "models": dict,
    },
}
#: The limits of one user group or one model (``rate_limits.groups.<name>``).
_SCOPE_FIELDS = ("requests_per_minute", "tokens_per_minute", "requests_per_day", "max_concurrency")
MAX_LIMIT = 2**31 - 1
MAX_SCOPES = 1000


def merged(stored: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "system_name": DEFAULTS["system_name"],
        "logo_url": "",
        **{key: "" for key in TEXTS},
        "features": dict(DEFAULTS["features"]),
        "rate_limits": copy.deepcopy(DEFAULTS["rate_limits"]),
        "group_multipliers": {},
    }
    for key, value in (stored or {}).items():
        if isinstance(value, dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


def _multipliers(value: Any) -> dict[str, str | None]:
    """``{"vip": 0.8}``: a user group's price multiplier, a positive decimal; ``null``
    removes the group's multiplier (the patch merges into the stored ones)."""
    if not isinstance(value, dict):
        raise GatewayError(400, "'group_multipliers' must be an object of group -> number")
    clean: dict[str, str | None] = {}
    for group, factor in value.items():
        if not group or len(group) > MAX_NAME:
            raise GatewayError(400, f"'group_multipliers' names must be 1 to {MAX_NAME} characters")
        if factor is None:
            clean[str(group)] = None
            continue
        if isinstance(factor, bool) or not isinstance(factor, int | float | str):
            raise GatewayError(400, f"group_multipliers.{group} must be a number")
        try:
            number = Decimal(str(factor))
        except InvalidOperation as exc:
            raise GatewayError(400, f"group_multipliers.{group} must be a number") from exc
        if not number.is_finite() or number <= 0:
            raise GatewayError(400, f"group_multipliers.{group} must be positive")
        clean[str(group)] = str(number)
    return clean


def _scopes(where: str, value: dict[str, Any]) -> None:
    """``{"free": {"requests_per_minute": 10}, ...}``: each name's limits, non-negative
    integers of the known fields (0: none)."""
    if len(value) > MAX_SCOPES:
        raise GatewayError(400, f"'{where}' may name at most {MAX_SCOPES} entries")
    for name, limits in value.items():
        if not name or len(name) > MAX_NAME:
            raise GatewayError(400, f"'{where}' names must be 1 to {MAX_NAME} characters")
        if not isinstance(limits, dict):
            raise GatewayError(400, f"'{where}.{name}' must be an object")
        for field, item in limits.items():
            if field not in _SCOPE_FIELDS:
                raise GatewayError(400, f"unknown setting '{where}.{name}.{field}'")
            if type(item) is not int or not 0 <= item <= MAX_LIMIT:
                raise GatewayError(
                    400, f"'{where}.{name}.{field}' must be an integer from 0 to {MAX_LIMIT}"
                )


def _logo_url(value: Any) -> str:
    """An ``https://`` URL or a path on this host (``/console/logo.png``): never a
    ``javascript:`` or ``data:`` URL, nor plain ``http://`` on a page served over HTTPS."""
    if not isinstance(value, str) or len(value) > MAX_LOGO_URL:
        raise GatewayError(400, f"'logo_url' must be a string of at most {MAX_LOGO_URL} characters")
    url: str = value.strip()
    if not url:
        return ""
    if any(ord(ch) < 0x21 or ch in "\\<>\"'`" for ch in url):
        raise GatewayError(400, "'logo_url' must not contain spaces, quotes or control characters")
    parts = urlsplit(url)
    if parts.scheme:
        if parts.scheme.lower() != "https" or not parts.netloc:
            raise GatewayError(400, "'logo_url' must be an https:// URL or a relative path")
    elif url.startswith("//") or parts.netloc:
        raise GatewayError(400, "'logo_url' must be an https:// URL or a relative path")
    return url


def _text(key: str, value: Any) -> str:
    limit = TEXTS[key]
    if not isinstance(value, str) or len(value) > limit:
        raise GatewayError(400, f"'{key}' must be a string of at most {limit} characters")
    return value.strip()


def _honoured(key: str, value: dict[str, Any], settings: Settings) -> None:
    """400 for a feature the gateway cannot provide: never stored and then ignored."""
    if key != "features":
        return
    # registration_enabled opens the console's sign-up (surfaces/console/accounts.py).
    if value.get("email_verification") is True and not verification_possible(settings):
        raise GatewayError(
            400,
            "'features.email_verification' needs an SMTP server (AIRELAY_SMTP_HOST) and "
            "AIRELAY_PUBLIC_URL (the verification links are built on it)",
        )
    currency = value.get("default_currency")
    if currency is not None and currency != "USD":
        raise GatewayError(400, "'features.default_currency' must be 'USD' (balances are in USD)")


def verification_possible(settings: Settings) -> bool:
    """Whether this gateway can mail verification links: SMTP and a public URL."""
    return bool(mail_configured(settings) and settings.public_url)


def _validated(patch: Any, settings: Settings) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise GatewayError(400, "settings must be a JSON object")
    clean: dict[str, Any] = {}
    for key, value in patch.items():
        if key == "system_name":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
                raise GatewayError(
                    400, f"'system_name' must be a non-empty string (at most {MAX_NAME} characters)"
                )
            clean[key] = value
        elif key == "logo_url":
            clean[key] = _logo_url(value)
        elif key in TEXTS:
            clean[key] = _text(key, value)
        elif key in _TYPES:
            if not isinstance(value, dict):
                raise GatewayError(400, f"'{key}' must be an object")
            for name, item in value.items():
                expected = _TYPES[key].get(name)
                if expected is None:
                    raise GatewayError(400, f"unknown setting '{key}.{name}'")
                if type(item) is not expected or (isinstance(item, int) and item < 0):
                    raise GatewayError(400, f"'{key}.{name}' has the wrong type")
                if isinstance(item, int) and item > MAX_LIMIT:
                    raise GatewayError(400, f"'{key}.{name}' must be at most {MAX_LIMIT}")
                if isinstance(item, dict):
                    _scopes(f"{key}.{name}", item)
            _honoured(key, value, settings)
            clean[key] = value
        elif key == "group_multipliers":
            clean[key] = _multipliers(value)
        elif key == "version":
            continue  # read-only
        else:
            raise GatewayError(400, f"unknown setting '{key}'")
    return clean


@admin
async def get_settings(request: web.Request, state: AppState) -> web.StreamResponse:
    stored = await settings_repo.read(state.engine)
    return json_response({**merged(stored), "version": __version__})


@admin
async def update_settings(request: web.Request, state: AppState) -> web.StreamResponse:
    patch = _validated(await decode_json(request), state.settings)

    def document(current: dict[str, Any] | None) -> dict[str, Any]:
        stored = merged(current)
        for key, value in patch.items():
            if isinstance(value, dict):
                stored[key].update(value)
            else:
                stored[key] = value
        removed = [group for group, factor in stored["group_multipliers"].items() if factor is None]
        for group in removed:
            del stored["group_multipliers"][group]
        return stored

    stored = await settings_repo.change(state.engine, document)
    await state.cache.refresh()
    return json_response({**stored, "version": __version__})
