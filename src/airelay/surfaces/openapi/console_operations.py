"""The console's own API in the OpenAPI document (a session cookie, not a key): what its
pages call."""

from __future__ import annotations

from airelay.surfaces.openapi.operation import (
    CONSOLE,
    PAGING,
    PUBLIC,
    RANGE,
    STRING,
    USAGE_FILTERS,
    Operation,
    ref,
)

_SIGN_IN = "Open a console session"

CONSOLE_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/console/api/config"): Operation("What the sign-in page offers", PUBLIC),
    ("POST", "/console/api/signup"): Operation(
        "Sign up (when registration is enabled)", PUBLIC, ref("SignUp"), success=201
    ),
    ("POST", "/console/api/login"): Operation(_SIGN_IN, PUBLIC, ref("SignIn")),
    ("POST", "/console/api/login/totp"): Operation(
        "Give the second factor", CONSOLE, ref("SecondFactor")
    ),
    ("POST", "/console/api/login/admin"): Operation(
        "Open an operator session with a management key", PUBLIC, ref("AdminSignIn")
    ),
    ("POST", "/console/api/logout"): Operation("End the session", CONSOLE),
    ("GET", "/console/api/oidc/start"): Operation(
        "Sign in through the OpenID Connect provider (a redirect)", PUBLIC
    ),
    ("GET", "/console/api/oidc/callback"): Operation(
        "The provider's way back (a redirect to the console)",
        PUBLIC,
        query=(("code", STRING), ("state", STRING)),
    ),
    ("GET", "/console/api/me"): Operation("The signed-in account", CONSOLE),
    ("POST", "/console/api/password"): Operation(
        "Change the password", CONSOLE, ref("PasswordChange")
    ),
    ("POST", "/console/api/password-reset"): Operation(
        "Mail a password-reset link", PUBLIC, ref("ResetRequest"), success=202
    ),
    ("POST", "/console/api/password-reset/confirm"): Operation(
        "Set a new password with a reset link", PUBLIC, ref("ResetConfirm")
    ),
    ("POST", "/console/api/verify-email"): Operation(
        "Verify the e-mail address with a mailed link", PUBLIC, ref("VerifyRequest")
    ),
    ("POST", "/console/api/verify-email/resend"): Operation(
        "Mail a new verification link", PUBLIC, ref("ResendRequest"), success=202
    ),
    ("POST", "/console/api/totp/setup"): Operation("A new TOTP secret", CONSOLE),
    ("POST", "/console/api/totp/enable"): Operation(
        "Turn on two-factor sign-in", CONSOLE, ref("SecondFactor")
    ),
    ("POST", "/console/api/totp/disable"): Operation(
        "Turn off two-factor sign-in", CONSOLE, ref("SecondFactor")
    ),
    ("GET", "/console/api/keys"): Operation("The account's API keys", CONSOLE, query=PAGING),
    ("POST", "/console/api/keys"): Operation(
        "Create an API key (its secret is returned once)",
        CONSOLE,
        ref("TokenCreate"),
        success=201,
    ),
    ("PATCH", "/console/api/keys/{id}"): Operation("Change an API key", CONSOLE, ref("TokenPatch")),
    ("DELETE", "/console/api/keys/{id}"): Operation("Revoke an API key", CONSOLE),
    ("GET", "/console/api/usage"): Operation(
        "The account's usage rows, paged", CONSOLE, query=(*USAGE_FILTERS, *RANGE)
    ),
    ("GET", "/console/api/usage/summary"): Operation(
        "The account's totals per model and day", CONSOLE, query=(("model", STRING), *RANGE)
    ),
    ("GET", "/console/api/usage.csv"): Operation(
        "Every usage row of the account matching the filters, as CSV (text/csv)",
        CONSOLE,
        query=(("token_id", STRING), ("model", STRING), *RANGE),
    ),
    ("GET", "/console/api/models"): Operation(
        "The models the account's keys may call, at the prices the account pays", CONSOLE
    ),
    ("POST", "/console/api/redeem"): Operation(
        "Redeem a one-time code", CONSOLE, ref("RedeemRequest")
    ),
    ("POST", "/console/api/checkout"): Operation(
        "Open a Stripe Checkout top-up", CONSOLE, ref("CheckoutRequest")
    ),
}
