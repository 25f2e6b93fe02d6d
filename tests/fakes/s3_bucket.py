"""A fake S3-compatible bucket over real HTTP on loopback: path-style ``PUT`` and ``GET``
of ``/{bucket}/{key}``, each request's AWS Signature V4 (service ``s3``) recomputed with
botocore from the known credentials (``verify_sigv4``), and ``x-amz-content-sha256`` checked
against the body, as S3 does. A bad signature answers 403 ``SignatureDoesNotMatch``, an
unknown key 404 ``NoSuchKey``, both in S3's XML error shape."""

from __future__ import annotations

import hashlib
import threading

from aiohttp import web

from .bedrock_upstream import AwsKey, verify_sigv4
from .loopback import ThreadedApp

S3_KEY = AwsKey("AKIAS3FAKEKEY0000001", "s3-fake-secret-access-key")


def _error(status: int, code: str, message: str) -> web.Response:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


class FakeBucket(ThreadedApp):
    label = "FakeBucket"

    def __init__(self, bucket: str = "images", region: str = "us-east-1") -> None:
        super().__init__()
        self.bucket = bucket
        self.region = region
        self.objects: dict[str, tuple[bytes, str]] = {}  # key -> (bytes, content type)
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("*", "/{bucket}/{key}", self._object)
        return app

    async def _object(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests.append((request.method, request.path))
        why = verify_sigv4(
            method=request.method,
            raw_path=request.raw_path,
            headers=request.headers,
            body=body,
            keys=(S3_KEY,),
            region=self.region,
            service="s3",
        )
        if why is not None:
            return _error(403, "SignatureDoesNotMatch", why)
        if request.headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
            return _error(400, "XAmzContentSHA256Mismatch", "payload hash mismatch")
        if request.match_info["bucket"] != self.bucket:
            return _error(404, "NoSuchBucket", "The specified bucket does not exist")
        key = request.match_info["key"]
        if request.method == "PUT":
            self.objects[key] = (body, request.headers.get("Content-Type", ""))
            return web.Response(
                status=200, headers={"ETag": '"' + hashlib.md5(body).hexdigest() + '"'}
            )
        if request.method == "GET":
            found = self.objects.get(key)
            if found is None:
                return _error(404, "NoSuchKey", "The specified key does not exist.")
            return web.Response(body=found[0], content_type=found[1] or "binary/octet-stream")
        return _error(405, "MethodNotAllowed", "not allowed")
