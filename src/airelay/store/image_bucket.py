"""Stored images in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2...), shared by
every instance of a deployment: ``PUT`` and ``GET`` of ``{endpoint}/{bucket}/{id}``
(path-style, which every S3-compatible service takes), each signed with AWS Signature V4
(botocore's ``S3SigV4Auth``: the payload's SHA-256 is signed too) and sent by the gateway's
own HTTP client.

The expiry is in the id (``image_files``): an expired id answers 404 without a request;
deleting expired objects is the bucket's lifecycle rule's job (one rule: "expire after N
days"). This module, and botocore with it, is imported only when a bucket is configured.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from airelay.client import Pool, Timeouts, UpstreamError, request_target
from airelay.store.image_ids import content_type_of, live, new_id

TIMEOUTS = Timeouts(connect=10, read=30, total=60)
MAX_IMAGE_BYTES = 64 * 1024 * 1024


class BucketError(Exception):
    """The bucket refused or could not be reached; the message holds no credential."""


class BucketImages:
    def __init__(
        self,
        bucket: str,
        ttl: int,
        *,
        endpoint: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
    ) -> None:
        self.ttl = ttl
        root = (endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/")
        self.prefix = f"{root}/{quote(bucket, safe='')}/"
        self._signer = S3SigV4Auth(
            Credentials(access_key_id or "", secret_access_key or ""), "s3", region
        )
        self._pool = Pool(TIMEOUTS, max_body=MAX_IMAGE_BYTES, max_per_origin=32)

    def _signed(self, method: str, image_id: str, body: bytes, mime: str | None) -> dict[str, str]:
        headers = {"x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
        if mime is not None:
            headers["Content-Type"] = mime
        request = AWSRequest(method=method, url=self.prefix + image_id, data=body, headers=headers)
        self._signer.add_auth(request)
        return dict(request.headers.items())

    async def put(self, data: bytes, mime: str) -> str:
        image_id = new_id(mime, self.ttl)
        headers = self._signed("PUT", image_id, data, content_type_of(image_id))
        target = request_target("PUT", self.prefix + image_id, headers)
        try:
            response = await self._pool.send(target, data)
            await response.read()
            response.release()
        except (UpstreamError, OSError, TimeoutError) as exc:
            raise BucketError(
                f"the image bucket could not be reached ({type(exc).__name__})"
            ) from exc
        if response.status != 200:
            raise BucketError(f"the image bucket refused the image (HTTP {response.status})")
        return image_id

    async def get(self, image_id: str) -> bytes | None:
        if not live(image_id):
            return None
        headers = self._signed("GET", image_id, b"", None)
        target = request_target("GET", self.prefix + image_id, headers)
        try:
            response = await self._pool.send(target, b"")
            data = await response.read()
            response.release()
        except (UpstreamError, OSError, TimeoutError) as exc:
            raise BucketError(
                f"the image bucket could not be reached ({type(exc).__name__})"
            ) from exc
        if response.status == 404:
            return None
        if response.status != 200:
            raise BucketError(f"the image bucket answered HTTP {response.status}")
        return data

    async def close(self) -> None:
        await self._pool.close()
