"""Authenticated encryption of what the gateway hands to clients and reads back (sealed
thinking signatures, compacted conversations): AES-256-GCM under a key derived from the
operator's secret with HKDF-SHA256 and a label (``info``) per use, so that no two uses, nor
the encryption of upstream keys at rest, share a key. Every box has a fresh 96-bit nonce,
kept in front of it."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE = 12
TAG = 16


class Box:
    """Seals and opens bytes under one derived key."""

    __slots__ = ("_aead",)

    def __init__(self, secret: str, info: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            secret.encode("utf-8")
        )
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, associated: bytes) -> bytes:
        """Nonce and ciphertext (with its tag) of ``plain``, bound to ``associated``."""
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, plain, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes | None:
        """The plain bytes, or None when ``sealed`` was changed, is too short, or was bound
        to other associated data."""
        if len(sealed) < NONCE + TAG:
            return None
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], associated)
        except InvalidTag:
            return None
