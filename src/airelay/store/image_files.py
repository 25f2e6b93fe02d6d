"""Images the gateway keeps for a while, so that it can answer a URL when an upstream gave
bytes (``response_format: url`` from gpt-image or Gemini): a local directory by default,
or an S3-compatible bucket (``image_bucket``) that every instance shares.

An image's id is ``{expiry}-{secret}.{ext}``: the Unix time after which it no longer
answers (hex), 32 random URL-safe characters (192 bits: unguessable, and never derived
from the call), and the type's extension. The expiry is read from the id, so no table is
needed to refuse an old image; changing it in a URL names a file that does not exist.
Expired files are deleted by a sweep that the writes start (at most once a minute, in a
thread); a bucket's own lifecycle rule does that for a bucket.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Protocol

from airelay.store.image_ids import expiry_of, live, new_id

SWEEP_EVERY_SECONDS = 60.0


class ImageFiles(Protocol):
    """Where stored images live."""

    async def put(self, data: bytes, mime: str) -> str:
        """Keep ``data``; returns its new id."""
        ...

    async def get(self, image_id: str) -> bytes | None:
        """The bytes of a live image, None when unknown or expired."""
        ...

    async def close(self) -> None: ...


class LocalImages:
    """Images as files in one directory (created on the first write)."""

    def __init__(self, directory: Path, ttl: int) -> None:
        self.directory = directory
        self.ttl = ttl
        self._swept = 0.0
        self._sweeping: asyncio.Future[int] | None = None

    async def put(self, data: bytes, mime: str) -> str:
        image_id = new_id(mime, self.ttl)
        await asyncio.to_thread(self._write, image_id, data)
        now = time.monotonic()
        if now - self._swept >= SWEEP_EVERY_SECONDS and (
            self._sweeping is None or self._sweeping.done()
        ):
            self._swept = now
            self._sweeping = asyncio.ensure_future(asyncio.to_thread(self.sweep))
        return image_id

    async def get(self, image_id: str) -> bytes | None:
        if not live(image_id):
            return None
        return await asyncio.to_thread(self._read, image_id)

    async def close(self) -> None:
        if self._sweeping is not None:
            await asyncio.gather(self._sweeping, return_exceptions=True)

    def _write(self, image_id: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{image_id}.part"
        with open(partial, "wb") as fh:
            fh.write(data)
        os.replace(partial, self.directory / image_id)  # whole or absent, never half

    def _read(self, image_id: str) -> bytes | None:
        try:
            return (self.directory / image_id).read_bytes()
        except FileNotFoundError:
            return None

    def sweep(self, now: float | None = None) -> int:
        """Delete the expired images (and leftovers of a write cut short); returns how many."""
        now = time.time() if now is None else now
        removed = 0
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return 0
        for name in names:
            expires = expiry_of(name.removeprefix(".").removesuffix(".part"))
            if expires is not None and expires <= now:
                try:
                    os.unlink(self.directory / name)
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed


def open_image_files(
    directory: Path,
    ttl: int,
    *,
    bucket: str | None = None,
    endpoint: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> ImageFiles:
    """The local directory, or the S3-compatible bucket when one is named (its module, and
    botocore with it, imported only then)."""
    if bucket is None:
        return LocalImages(directory, ttl)
    from airelay.store.image_bucket import BucketImages

    return BucketImages(
        bucket,
        ttl,
        endpoint=endpoint,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
    )
