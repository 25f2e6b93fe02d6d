"""Sealed blobs the gateway hands to clients and reads back: the summary of a conversation
the gateway compacted (a Responses ``compaction`` item's ``encrypted_content``).

An ``aead.Box`` with a key of its own, derived from the operator's secret
(``AIRELAY_SECRET_KEY`` or the one generated into the data dir). Each blob is bound to one
user (the user id is the authenticated data): another user's blob, or one changed by a
byte, does not open. Blobs start with ``PREFIX`` so that the gateway tells its own from an
upstream's opaque content, which it leaves alone.
"""

from __future__ import annotations

import base64
import binascii

from airelay.security.aead import Box

PREFIX = "airelay.sealed.v1."
_INFO = b"airelay responses compaction v1"


class Unsealable(ValueError):
    """A blob the gateway sealed that cannot be opened: changed, or another user's."""


class Sealer:
    """Seals and opens short texts for one user at a time."""

    __slots__ = ("_box",)

    def __init__(self, secret: str) -> None:
        self._box = Box(secret, _INFO)

    def seal(self, user_id: str, text: str) -> str:
        sealed = self._box.seal(text.encode("utf-8"), user_id.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")

    def open(self, user_id: str, blob: str) -> str | None:
        """The text of a blob this gateway sealed for ``user_id``; None for one it did not
        seal (no ``PREFIX``); ``Unsealable`` for one it sealed that does not open."""
        if not blob.startswith(PREFIX):
            return None
        encoded = blob[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise Unsealable("the compaction item's content is not valid") from None
        plain = self._box.open(raw, user_id.encode("utf-8"))
        if plain is None:
            raise Unsealable("the compaction item's content was changed or belongs to another user")
        return plain.decode("utf-8")
