"""Deterministic small PNG images for the fake image upstreams: ``png(seed)`` is a valid
8x8 PNG whose single colour is derived from ``seed`` (SHA-256), so a test can tell which
prompt (and which of n images) an image came from by comparing bytes."""

from __future__ import annotations

import hashlib
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png(seed: str, side: int = 8) -> bytes:
    red, green, blue = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * side  # filter byte, then RGB pixels
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * side))
        + _chunk(b"IEND", b"")
    )


def seed(prompt: str, index: int, *extra: str) -> str:
    """The seed of the ``index``-th image made for ``prompt`` (and inputs, for an edit)."""
    return "|".join((prompt, str(index), *extra))
