"""API keys: generation, hashing for storage, constant-time comparison, masking for display.

Keys carry 192 random bits, so a plain SHA-256 is a sound storage hash (no slow KDF needed:
there is nothing to brute-force); the stored hash is never the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

USER_KEY_PREFIX = "sk-"
MGMT_KEY_PREFIX = "mgmt-"


def generate_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def mask(secret: str) -> str:
    """Show just enough of a secret to recognise it: ``sk-ab...wxyz``."""
    if len(secret) <= 10:
        return "*" * len(secret)
    return f"{secret[:5]}...{secret[-4:]}"
