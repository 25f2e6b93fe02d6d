"""Sealed thinking signatures: AES-256-GCM under a key derived from the gateway's secret.

A token (``formats.thinking``) carries a signature to a client of another format and back;
it must not be readable (a signature may carry the upstream's encrypted reasoning) nor
forgeable (a client could otherwise aim one channel's signature at another). An
``aead.Box`` with a key of its own; the magic bytes are the associated data.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

import orjson

from airelay.formats.ir import Origin
from airelay.formats.thinking import SEAL_MAGIC, Sealed
from airelay.security.aead import Box

_INFO: Final = b"airelay thinking signature seal v1"
_STANDARD_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")


class SignatureSealer:
    """The gateway's ``formats.thinking.Sealer``."""

    __slots__ = ("_box",)

    def __init__(self, secret: str) -> None:
        self._box = Box(secret, _INFO)

    def seal(self, sealed: Sealed) -> str:
        payload = {"f": sealed.origin.format, "c": sealed.origin.channel}
        for name, value in (("s", sealed.signature), ("e", sealed.encrypted)):
            if value is not None:
                payload[name] = value
        if sealed.redacted is not None:
            payload["r"] = sealed.redacted
        box = self._box.seal(orjson.dumps(payload), SEAL_MAGIC)
        return base64.urlsafe_b64encode(SEAL_MAGIC + box).decode("ascii")

    def open(self, token: str) -> Sealed | None:
        try:
            raw = token.encode("ascii").translate(_STANDARD_TO_URLSAFE)
            data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return None
        if not data.startswith(SEAL_MAGIC):
            return None
        plain = self._box.open(data[len(SEAL_MAGIC) :], SEAL_MAGIC)
        if plain is None:
            return None
        try:
            payload = orjson.loads(plain)
        except orjson.JSONDecodeError:
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
