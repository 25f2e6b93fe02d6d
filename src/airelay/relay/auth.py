"""Who is calling and what they may do, decided from the in-memory snapshot alone."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping

from airelay.errors import GatewayError
from airelay.security.keys import MGMT_KEY_PREFIX, hash_key, same_hash
from airelay.store.snapshot import KeyRecord, Snapshot


def extract_bearer(headers: Mapping[str, str]) -> str | None:
    """The key of an ``Authorization: Bearer`` header, the management API's only way."""
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def extract_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key as any of the three SDKs send it: Bearer, x-api-key, x-goog-api-key, ?key=."""
    bearer = extract_bearer(headers)
    if bearer:
        return bearer
    for name in ("x-api-key", "x-goog-api-key"):
        header = headers.get(name)
        if header:
            return header.strip()
    param = query.get("key")
    return param.strip() if param else None


#: What every client route answers while the operator has the gateway in maintenance
#: (``features.maintenance_mode``); the management API keeps working.
MAINTENANCE = GatewayError(
    503,
    "The gateway is under maintenance; retry later.",
    headers={"Retry-After": "60"},
)


def authenticate(
    snapshot: Snapshot, key: str | None, *, remote: str | None, now: float | None = None
) -> KeyRecord:
    """The key's record, or 401 (missing, unknown, revoked, expired, or its user disabled),
    or 403 when the caller's address ``remote`` is outside the key's IP allowlist: the
    allowlist holds on every route a key opens (balance, usage, model lists...), not only
    on calls. 503 for every caller while the gateway is in maintenance."""
    if snapshot.maintenance:
        raise MAINTENANCE
    if not key:
        raise GatewayError(401, "Missing API key: send it as 'Authorization: Bearer sk-...'.")
    digest = hash_key(key)
    # The lookup is by SHA-256 of the key, so its timing says nothing about the key; the
    # comparison that decides is constant-time.
    record = snapshot.keys.get(digest)
    if record is None or not same_hash(record.key_hash, digest):
        raise GatewayError(401, "Invalid API key.")
    if record.status != "active":
        raise GatewayError(401, "This API key has been revoked.")
    if record.user_status != "active":
        raise GatewayError(401, "The account of this API key is disabled.")
    if record.expires_at is not None and record.expires_at <= (now or time.time()):
        raise GatewayError(401, "This API key has expired.")
    if record.ip_networks is not None:
        _check_address(record, remote)
    return record


def authorize(record: KeyRecord, *, permission: str, model: str | None, remote: str | None) -> None:
    """403 when the key may not use this kind of endpoint, this model, or this address."""
    if permission not in record.permissions:
        raise GatewayError(403, f"This API key lacks the '{permission}' permission.")
    if model is not None and record.models is not None and model not in record.models:
        raise GatewayError(403, f"This API key may not use the model '{model}'.")
    if record.ip_networks is not None:
        _check_address(record, remote)


class AddressRefused(GatewayError):
    """403: the caller's address is outside the key's IP allow-list."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message)


def _check_address(record: KeyRecord, remote: str | None) -> None:
    assert record.ip_networks is not None
    if remote is None:
        raise AddressRefused("The client address is unknown; this key has an IP allowlist.")
    try:
        address = ipaddress.ip_address(remote)
    except ValueError as exc:
        raise AddressRefused("The client address is not allowed for this key.") from exc
    if not any(address in network for network in record.ip_networks):
        raise AddressRefused(f"The address {remote} is not allowed for this API key.")


def authenticate_admin(snapshot: Snapshot, key: str | None) -> None:
    """Management routes take only ``mgmt-`` keys: 401 when missing or unknown, 403 when a
    user key is presented."""
    if not key:
        raise GatewayError(401, "Missing management key: send 'Authorization: Bearer mgmt-...'.")
    digest = hash_key(key)
    if key.startswith(MGMT_KEY_PREFIX):
        for stored in snapshot.admin_hashes:
            if same_hash(stored, digest):
                return
        raise GatewayError(401, "Invalid management key.")
    if digest in snapshot.keys:
        raise GatewayError(403, "User API keys cannot call the management API.")
    raise GatewayError(401, "Invalid management key.")
