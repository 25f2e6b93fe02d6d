"""Sealed thinking signatures: AES-256-GCM under a key derived from the gateway's secret.

A token (``formats.thinking``) carries a signature to a client of another format and back;
it must not be readable (a signature may carry the upstream's encrypted reasoning) nor
forgeable (a client could otherwise aim one channel's signature at another). The key is
HKDF-SHA256 of the operator's secret with a label of its own, so it is not the key that
encrypts upstream keys at rest; every token has a fresh 96-bit nonce, and the magic bytes
are the associated data.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from airelay.formats.ir import Origin
from airelay.formats.thinking import SEAL_MAGIC, Sealed

_INFO: Final = b"airelay thinking signature seal v1"
_NONCE: Final = 12
_STANDARD_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


class SignatureSealer:
    """The gateway's ``formats.thinking.Sealer``."""

    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret.encode("utf-8")
        )
        self._aead = AESGCM(key)

    def seal(self, sealed: Sealed) -> str:
        payload = {"f": sealed.origin.format, "c": sealed.origin.channel}
        for name, value in (("s", sealed.signature), ("e", sealed.encrypted)):
            if value is not None:
                payload[name] = value
        if sealed.redacted is not None:
            payload["r"] = sealed.redacted
        nonce = os.urandom(_NONCE)
        box = self._aead.encrypt(nonce, orjson.dumps(payload), SEAL_MAGIC)
        return base64.urlsafe_b64encode(SEAL_MAGIC + nonce + box).decode("ascii")

    def open(self, token: str) -> Sealed | None:
        try:
            raw = token.encode("ascii").translate(_STANDARD_TO_URLSAFE)
            data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return None
        if not data.startswith(SEAL_MAGIC) or len(data) < len(SEAL_MAGIC) + _NONCE + 16:
            return None
        start = len(SEAL_MAGIC)
        nonce, box = data[start : start + _NONCE], data[start + _NONCE :]
        try:
            payload = orjson.loads(self._aead.decrypt(nonce, box, SEAL_MAGIC))
        except (InvalidTag, orjson.JSONDecodeError):
            return None
        if not isinstance(payload, dict):
            return None
        fmt, channel = payload.get("f"), payload.get("c")
        if not isinstance(fmt, str) or not isinstance(channel, str):
            return None
        return Sealed(
            Origin(fmt, channel),
            _text(payload.get("s")),
            _text(payload.get("e")),
            _text(payload.get("r")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
