"""The ids of stored images (``image_files``): ``{expiry}-{secret}.{ext}``, the Unix time
after which the image no longer answers (hex), 32 random URL-safe characters (192 bits:
unguessable, and never derived from the call), and the type's extension. Shared by the
local directory and the bucket, neither of which the other imports."""

from __future__ import annotations

import re
import secrets
import time

from airelay.formats.images import mime_extension

#: What an id looks like; anything else is unknown without touching the disk.
ID_PATTERN = re.compile(r"([0-9a-f]{8,12})-[A-Za-z0-9_-]{32}\.(png|jpeg|webp|gif)")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


def new_id(mime: str, ttl: int, now: float | None = None) -> str:
    expires = int(time.time() if now is None else now) + ttl
    return f"{expires:08x}-{secrets.token_urlsafe(24)}.{mime_extension(mime)}"


def expiry_of(image_id: str) -> int | None:
    """The expiry of a well-formed id, None for anything else."""
    match = ID_PATTERN.fullmatch(image_id)
    return int(match.group(1), 16) if match else None


def content_type_of(image_id: str) -> str:
    return CONTENT_TYPES[image_id.rsplit(".", 1)[1]]


def live(image_id: str, now: float | None = None) -> bool:
    """Whether ``image_id`` is well-formed and not expired."""
    expires = expiry_of(image_id)
    return expires is not None and (time.time() if now is None else now) < expires
