"""The console's routes: its JSON API under ``/console/api`` (session cookie, not keys) and
the single-page app's files under ``/console``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from airelay.surfaces.console import (
    accounts,
    catalogue,
    oidc,
    own,
    reset,
    static,
    usage_export,
    verify,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/console/api"

CONSOLE_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", f"{API}/config", accounts.config),
    ("POST", f"{API}/signup", accounts.sign_up),
    ("POST", f"{API}/login", accounts.sign_in),
    ("POST", f"{API}/login/totp", accounts.second_factor),
    ("POST", f"{API}/login/admin", accounts.admin_sign_in),
    ("POST", f"{API}/logout", accounts.sign_out),
    ("GET", f"{API}/me", accounts.me),
    ("GET", f"{API}/oidc/start", oidc.start),
    ("GET", f"{API}/oidc/callback", oidc.callback),
    ("POST", f"{API}/password-reset", reset.request_reset),
    ("POST", f"{API}/password-reset/confirm", reset.confirm_reset),
    ("POST", f"{API}/verify-email", verify.confirm),
    ("POST", f"{API}/verify-email/resend", verify.resend),
    ("POST", f"{API}/password", accounts.change_password),
    ("POST", f"{API}/totp/setup", accounts.totp_setup),
    ("POST", f"{API}/totp/enable", accounts.totp_enable),
    ("POST", f"{API}/totp/disable", accounts.totp_disable),
    ("GET", f"{API}/keys", own.list_keys),
    ("POST", f"{API}/keys", own.create_key),
    ("PATCH", f"{API}/keys/{{id}}", own.update_key),
    ("DELETE", f"{API}/keys/{{id}}", own.revoke_key),
    ("GET", f"{API}/usage", own.usage),
    ("GET", f"{API}/usage/summary", own.usage_summary),
    ("GET", f"{API}/usage.csv", usage_export.export),
    ("GET", f"{API}/models", catalogue.models),
    ("POST", f"{API}/redeem", own.redeem),
    ("POST", f"{API}/checkout", own.checkout),
    ("GET", "/", static.to_console),
    ("GET", "/console", static.to_console),
    ("GET", "/console/{path:.*}", static.serve),
]
