"""``/v1/admin/settings``: system name, version, features, default rate limits."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from airelay import __version__
from airelay.errors import GatewayError
from airelay.state import AppState
from airelay.store import settings as settings_repo
from airelay.surfaces.admin.common import admin, decode_json
from airelay.surfaces.responses import json_response

MAX_NAME = 200
DEFAULTS: dict[str, Any] = {
    "system_name": "airelay",
    "features": {
        "registration_enabled": False,
        "maintenance_mode": False,
        "default_currency": "USD",
    },
    "rate_limits": {"requests_per_minute": 60, "tokens_per_minute": 100000},
    "group_multipliers": {},
}
_TYPES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "features": {
        "registration_enabled": bool,
        "maintenance_mode": bool,
        "default_currency": str,
    },
    "rate_limits": {"requests_per_minute": int, "tokens_per_minute": int},
}


def merged(stored: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "system_name": DEFAULTS["system_name"],
        "features": dict(DEFAULTS["features"]),
        "rate_limits": dict(DEFAULTS["rate_limits"]),
        "group_multipliers": {},
    }
    for key, value in (stored or {}).items():
        if isinstance(value, dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


def _multipliers(value: Any) -> dict[str, str]:
    """``{"vip": 0.8}``: a user group's price multiplier, a positive decimal."""
    if not isinstance(value, dict):
        raise GatewayError(400, "'group_multipliers' must be an object of group -> number")
    clean: dict[str, str] = {}
    for group, factor in value.items():
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


def _validated(patch: Any) -> dict[str, Any]:
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
        elif key in _TYPES:
            if not isinstance(value, dict):
                raise GatewayError(400, f"'{key}' must be an object")
            for name, item in value.items():
                expected = _TYPES[key].get(name)
                if expected is None:
                    raise GatewayError(400, f"unknown setting '{key}.{name}'")
                if type(item) is not expected or (isinstance(item, int) and item < 0):
                    raise GatewayError(400, f"'{key}.{name}' has the wrong type")
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
    patch = _validated(await decode_json(request))

    def document(current: dict[str, Any] | None) -> dict[str, Any]:
        stored = merged(current)
        for key, value in patch.items():
            if isinstance(value, dict):
                stored[key].update(value)
            else:
                stored[key] = value
        return stored

    stored = await settings_repo.change(state.engine, document)
    await state.cache.refresh()
    return json_response({**stored, "version": __version__})
